//! Media shards: a few threads, each running the media of many calls in one event loop.
//!
//! Why not a task per call: at 2,000 calls, 100,000 datagrams a second go each way. With
//! a tokio task per call each of them was a wake-up of its own (readiness, scheduling, a
//! `select!` over the call's sockets, commands, timer and cancellation), and on this
//! 2-core machine the prompts' 20 ms pacing fell behind whenever the callers' load took
//! the other core (benchmark W2: largest gaps of 60–190 ms). A shard wakes once a
//! millisecond at most while it has calls, reads every socket epoll reports ready, runs
//! every timer that is due, and sleeps again: the same sends and reads, without the
//! per-packet scheduling. The cost is up to a tick (1 ms) more delay on a relayed packet
//! or a digit.
//!
//! Sockets are registered for reading only: with write interest too, Linux reports
//! every datagram sent as an event when the kernel frees its buffer. Media never waits
//! to send: a datagram that does not fit in the socket's buffer is late audio, better
//! dropped than queued, so sends are plain non-blocking `sendto`.
//!
//! Timers: a heap of (deadline, call) entries, at most one pending per call unless its
//! deadline moved earlier. An entry whose call has moved its deadline later is simply
//! found early, handled as a no-op and re-armed, so a deadline that moves on every packet
//! (the silence timer) costs nothing per packet.
//!
//! Events for the engine (digits, prompts finished) are sent without waiting: when the
//! engine's queue is full they wait in the shard's own queue, in order, and go at the
//! next tick. A shard never blocks on the engine. That queue is bounded: past
//! [`MAX_PENDING_EVENTS`] the newest digits are dropped (counted, logged once a second);
//! a caller cannot press keys faster than that matters, while RTP crafted to carry a new
//! digit in every packet could. Prompt ends and RTP timeouts are kept: the IVR waits for
//! them, and each call has only a few at a time.
//!
//! The shard's input channel is not capped: only the engine task and the openings of
//! calls' media send on it (one open, one close and a few commands per call event), and
//! the shard empties it at every tick.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::call_media::CallMedia;
use super::input::EngineInput;
use crate::call::CallId;
use crate::engine::{MediaCommand, MediaInput};
use crate::media::totals::RtpTotals;

/// A shard wakes at most this often while it has calls.
const TICK: Duration = Duration::from_millis(1);

/// Largest RTP/RTCP datagram we read; G.711 packets are 172 bytes.
const MAX_RTP: usize = 2048;

/// Datagrams read from one socket per tick at most, so a flooded port cannot hold up
/// the others; the rest are read at the next tick.
const READS_PER_TICK: usize = 32;

/// At most this many shards: beyond, the engine thread and the kernel's packet work
/// are the limit, not the shards.
const MAX_SHARDS: usize = 8;

const WAKER: Token = Token(usize::MAX);

/// Events waiting in a shard for room in the engine's queue before digits give way.
const MAX_PENDING_EVENTS: usize = 4_096;

/// How often a shard adds up its calls' packet counts for `/metrics` (O(its calls)).
const TOTALS_EVERY: Duration = Duration::from_millis(250);

/// How long an idle shard sleeps before looking whether the gateway has stopped.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// What a shard is told.
pub(super) enum ShardInput {
    /// A call whose media was just opened.
    Open(Box<CallMedia>),
    Command { call: CallId, cmd: MediaCommand },
    Close { call: CallId },
}

/// A handle on one shard, for the engine task and for the tasks opening calls' media.
#[derive(Clone)]
pub(super) struct ShardRef {
    tx: std_mpsc::Sender<ShardInput>,
    waker: Arc<Waker>,
    /// How late the shard ran its last due timer, in microseconds.
    lag_us: Arc<AtomicU64>,
    /// The shard's packet counts, as of its last sum (every [`TOTALS_EVERY`]).
    rtp: Arc<Mutex<RtpTotals>>,
}

impl ShardRef {
    /// Queues an input; false when the shard is gone.
    pub(super) fn send(&self, input: ShardInput) -> bool {
        if self.tx.send(input).is_err() {
            return false;
        }
        if let Err(e) = self.waker.wake() {
            warn!(error = %e, "media shard could not be woken");
        }
        true
    }

    /// How late the shard is running its calls' timers (prompt frames, silence).
    pub(super) fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_us.load(Ordering::Relaxed))
    }
}

/// The running shards. Dropping them stops their threads (and closes every call's
/// sockets), after which the drop returns.
pub(super) struct MediaShards {
    shards: Vec<ShardRef>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl MediaShards {
    /// One shard per core, at most [`MAX_SHARDS`]. Media events go to `engine`.
    pub(super) fn start(engine: &mpsc::Sender<EngineInput>) -> io::Result<MediaShards> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_SHARDS);
        let mut shards = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = std_mpsc::channel();
            let lag_us = Arc::new(AtomicU64::new(0));
            let rtp = Arc::new(Mutex::new(RtpTotals::default()));
            let shard = Shard::new(poll, rx, engine.clone(), lag_us.clone(), rtp.clone());
            threads.push(std::thread::Builder::new().name(format!("cc112-media-{i}")).spawn(move || shard.run())?);
            shards.push(ShardRef { tx, waker, lag_us, rtp });
        }
        Ok(MediaShards { shards, threads, next: 0 })
    }

    /// The shard for a new call: round robin, so calls spread evenly over the shards.
    /// `None` only if no shard is running (`start` starts at least one).
    pub(super) fn pick(&mut self) -> Option<(usize, ShardRef)> {
        let i = self.next % self.shards.len().max(1);
        self.next = i + 1;
        self.shards.get(i).map(|s| (i, s.clone()))
    }

    pub(super) fn send(&self, shard: usize, input: ShardInput) {
        if let Some(s) = self.shards.get(shard) {
            s.send(input);
        }
    }

    /// Every shard's packet counts, as of their last sums (at most [`TOTALS_EVERY`] old).
    pub(super) fn rtp_totals(&self) -> RtpTotals {
        let mut t = RtpTotals::default();
        for s in &self.shards {
            t.add(&s.rtp.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        }
        t
    }
}

impl Drop for MediaShards {
    fn drop(&mut self) {
        // Closing every sender ends the shards' loops; waking them makes them notice.
        // The wakers live until the threads are joined: the last one dropped closes its
        // eventfd, and epoll forgets a closed descriptor's pending event.
        let wakers: Vec<Arc<Waker>> = self.shards.drain(..).map(|s| s.waker).collect();
        for w in &wakers {
            let _ = w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        drop(wakers);
    }
}

/// A call in a shard, with its place in the timer heap.
struct Slot {
    media: CallMedia,
    /// Generation of the slot: timer entries of an earlier call in the slot are stale.
    generation: u32,
    /// The earliest deadline this call has in the heap.
    armed: Option<Instant>,
}

struct Shard {
    poll: Poll,
    rx: std_mpsc::Receiver<ShardInput>,
    engine: mpsc::Sender<EngineInput>,
    lag_us: Arc<AtomicU64>,
    /// Where the packet counts are published, those of the calls closed, and when
    /// they are next summed.
    rtp: Arc<Mutex<RtpTotals>>,
    closed: RtpTotals,
    next_totals: Instant,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    generations: u32,
    by_call: HashMap<CallId, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Events the engine's queue had no room for yet, in order (bounded, see
    /// [`MAX_PENDING_EVENTS`]).
    to_engine: VecDeque<EngineInput>,
    /// Digits dropped past the bound, not yet logged, and when the last line went out.
    shed: (u64, Option<Instant>),
    /// Sockets with datagrams left after their tick's reads (tokens).
    unread: Vec<Token>,
    buf: Vec<u8>,
    relayed: Vec<u8>,
}

/// Token of a slot's RTP socket (even) or RTCP socket (odd).
fn token(slot: usize, rtcp: bool) -> Token {
    Token(slot * 2 + usize::from(rtcp))
}

impl Shard {
    fn new(poll: Poll, rx: std_mpsc::Receiver<ShardInput>, engine: mpsc::Sender<EngineInput>, lag_us: Arc<AtomicU64>, rtp: Arc<Mutex<RtpTotals>>) -> Shard {
        Shard {
            poll,
            rx,
            engine,
            lag_us,
            rtp,
            closed: RtpTotals::default(),
            next_totals: Instant::now(),
            slots: Vec::new(),
            free: Vec::new(),
            generations: 0,
            by_call: HashMap::new(),
            timers: BinaryHeap::new(),
            to_engine: VecDeque::new(),
            shed: (0, None),
            unread: Vec::new(),
            buf: vec![0u8; MAX_RTP],
            relayed: Vec::with_capacity(MAX_RTP),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now();
        loop {
            // With calls: sleep out the tick, then take everything that is ready. Without
            // any: wait for the next input, or IDLE_CHECK (a sender dropped without a
            // wake, when the gateway stops, is noticed then).
            let busy = !self.by_call.is_empty() || !self.to_engine.is_empty();
            let timeout = if busy {
                let now = Instant::now();
                if next_tick > now {
                    std::thread::sleep(next_tick - now);
                }
                Some(Duration::ZERO)
            } else {
                Some(IDLE_CHECK)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warn!(error = %e, "media shard poll failed");
                    std::thread::sleep(TICK);
                }
                continue;
            }
            let now = Instant::now();
            next_tick = now + TICK;
            if !self.take_inputs(now) {
                break;
            }
            let mut ready = std::mem::take(&mut self.unread);
            ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKER));
            for t in ready.drain(..) {
                self.read(now, t);
            }
            if self.unread.is_empty() {
                self.unread = ready;
            }
            self.run_timers(now);
            self.send_to_engine();
            if now >= self.next_totals {
                self.next_totals = now + TOTALS_EVERY;
                self.publish_totals();
            }
        }
        for slot in self.slots.iter_mut() {
            if let Some(s) = slot.take() {
                s.media.log_closed();
            }
        }
    }

    /// Applies the queued inputs; false once the gateway has dropped the shards.
    fn take_inputs(&mut self, now: Instant) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(ShardInput::Open(media)) => self.open(*media),
                Ok(ShardInput::Command { call, cmd }) => {
                    let Some(&i) = self.by_call.get(&call) else { continue };
                    if let Some(Some(s)) = self.slots.get_mut(i) {
                        s.media.on_command(now, cmd, &mut self.to_engine);
                        s.media.flush(&mut self.to_engine);
                    }
                    self.arm(i);
                }
                Ok(ShardInput::Close { call }) => self.close(call),
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn open(&mut self, mut media: CallMedia) {
        let call = media.call;
        if self.by_call.contains_key(&call) {
            warn!(%call, "media opened twice; the second is ignored");
            return;
        }
        let i = self.free.pop().unwrap_or(self.slots.len());
        let registry = self.poll.registry();
        let registered = registry
            .register(&mut media.rtp, token(i, false), Interest::READABLE)
            .and_then(|()| registry.register(&mut media.rtcp, token(i, true), Interest::READABLE));
        if let Err(e) = registered {
            // The call keeps its signalling; its media is silent (logged, counted in the
            // call's record by the missing media events).
            warn!(%call, error = %e, "RTP socket could not be registered; the call has no media");
            let _ = registry.deregister(&mut media.rtp);
            let _ = registry.deregister(&mut media.rtcp);
            if i < self.slots.len() {
                self.free.push(i);
            }
            return;
        }
        self.generations = self.generations.wrapping_add(1);
        let slot = Slot { media, generation: self.generations, armed: None };
        if i == self.slots.len() {
            self.slots.push(Some(slot));
        } else if let Some(place) = self.slots.get_mut(i) {
            *place = Some(slot);
        }
        self.by_call.insert(call, i);
    }

    fn close(&mut self, call: CallId) {
        let Some(i) = self.by_call.remove(&call) else { return };
        let Some(mut s) = self.slots.get_mut(i).and_then(Option::take) else { return };
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut s.media.rtp);
        let _ = registry.deregister(&mut s.media.rtcp);
        s.media.log_closed();
        s.media.add_to(&mut self.closed);
        self.free.push(i);
        debug!(%call, calls = self.by_call.len(), "media closed in shard");
    }

    /// Adds up the packet counts of the calls closed and in progress, and publishes them.
    fn publish_totals(&mut self) {
        let mut t = self.closed;
        for s in self.slots.iter().flatten() {
            s.media.add_to(&mut t);
        }
        *self.rtp.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = t;
    }

    /// Reads one socket until it is empty (or its share of the tick is used).
    fn read(&mut self, now: Instant, t: Token) {
        let (i, rtcp) = (t.0 / 2, t.0 % 2 == 1);
        let Some(Some(s)) = self.slots.get_mut(i) else { return };
        for n in 0.. {
            if n == READS_PER_TICK {
                self.unread.push(t);
                break;
            }
            if rtcp {
                match s.media.rtcp.recv_from(&mut self.buf) {
                    Ok(_) => s.media.on_rtcp(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // ICMP errors and the like: the socket stays usable.
                    Err(_) => continue,
                }
            } else {
                match s.media.rtp.recv_from(&mut self.buf) {
                    Ok((len, from)) => {
                        let data = self.buf.get(..len).unwrap_or_default();
                        s.media.on_rtp(now, from, data, &mut self.relayed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => continue,
                }
            }
        }
        s.media.flush(&mut self.to_engine);
        self.arm(i);
    }

    /// Puts the slot's deadline in the heap unless an entry as early is there already.
    fn arm(&mut self, i: usize) {
        let Some(Some(s)) = self.slots.get_mut(i) else { return };
        let Some(d) = s.media.poll_timeout() else { return };
        if s.armed.is_none_or(|a| d < a) {
            s.armed = Some(d);
            self.timers.push(Reverse((d, i, s.generation)));
        }
    }

    fn run_timers(&mut self, now: Instant) {
        let mut lag = Duration::ZERO;
        while let Some(Reverse((at, i, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(Some(s)) = self.slots.get_mut(i) else { continue };
            if s.generation != generation || s.armed != Some(at) {
                continue;
            }
            s.armed = None;
            if s.media.poll_timeout().is_some_and(|d| d <= now) {
                lag = lag.max(now.saturating_duration_since(at));
                s.media.on_timeout(now);
                s.media.flush(&mut self.to_engine);
            }
            self.arm(i);
        }
        self.lag_us.store(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn send_to_engine(&mut self) {
        while let Some(input) = self.to_engine.pop_front() {
            match self.engine.try_send(input) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(input)) => {
                    self.to_engine.push_front(input);
                    return self.bound_pending();
                }
                // The engine has stopped; the shards are being dropped too.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.to_engine.clear();
                    return;
                }
            }
        }
    }
}

impl Shard {
    /// Past [`MAX_PENDING_EVENTS`] waiting: the newest digits go, counted and logged.
    fn bound_pending(&mut self) {
        let dropped = shed_digits(&mut self.to_engine, MAX_PENDING_EVENTS);
        if dropped == 0 {
            return;
        }
        self.shed.0 += dropped as u64;
        let now = Instant::now();
        if self.shed.1.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            warn!(dropped = self.shed.0, waiting = self.to_engine.len(), "engine queue full: digits from calls' media dropped");
            self.shed = (0, Some(now));
        }
    }
}

/// Drops digits, newest first, until at most `cap` events wait (or no digit is left);
/// returns how many went. One pass, whatever the length.
fn shed_digits(queue: &mut VecDeque<EngineInput>, cap: usize) -> usize {
    let is_digit = |e: &EngineInput| matches!(e, EngineInput::Media { input: MediaInput::Digit { .. }, .. });
    let excess = queue.len().saturating_sub(cap);
    if excess == 0 {
        return 0;
    }
    let digits = queue.iter().filter(|e| is_digit(e)).count();
    let mut keep = digits.saturating_sub(excess);
    let before = queue.len();
    queue.retain(|e| {
        if !is_digit(e) {
            return true;
        }
        let kept = keep > 0;
        keep = keep.saturating_sub(1);
        kept
    });
    before - queue.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::ivr::PromptRef;
    use crate::config::{Lang, PromptId};
    use crate::engine::MediaInput;
    use crate::media::prompts::PromptStore;
    use crate::media::Codec;
    use std::net::{SocketAddr, UdpSocket};

    fn loopback() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    fn prompts(frames: usize) -> Arc<PromptStore> {
        let mut store = PromptStore::new();
        store.insert_samples(Lang::new("id"), PromptId::new("greeting"), &vec![1000i16; 160 * frames]);
        Arc::new(store)
    }

    fn prompt() -> PromptRef {
        PromptRef { lang: Lang::new("id"), id: PromptId::new("greeting") }
    }

    /// Opens a call in `shard` that sends its prompts to `phone`; returns the call's RTP address.
    fn open_call(shards: &mut MediaShards, call: CallId, phone: SocketAddr, store: Arc<PromptStore>) -> (usize, SocketAddr) {
        let (rtp, rtcp) = (loopback(), loopback());
        let addr = rtp.local_addr().unwrap();
        let (i, shard) = shards.pick().unwrap();
        assert!(shard.send(ShardInput::Open(Box::new(CallMedia::new(call, rtp, rtcp, store)))));
        let start = MediaCommand::Start { remote: Some(phone), codec: Codec::Pcmu, payload_type: 0, telephone_event: None, telephone_event_rate: 8000 };
        shards.send(i, ShardInput::Command { call, cmd: start });
        (i, addr)
    }

    fn next_input(rx: &mut mpsc::Receiver<EngineInput>) -> EngineInput {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(input) = rx.try_recv() {
                return input;
            }
            assert!(Instant::now() < until, "no event for the engine within 10 s");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn past_the_bound_the_newest_digits_give_way_and_prompt_ends_stay() {
        let digit = |call: u64, key: char| EngineInput::Media { call: CallId(call), input: MediaInput::Digit { key, source: crate::engine::DigitSource::Rfc4733 } };
        let finished = |call: u64| EngineInput::Media { call: CallId(call), input: MediaInput::PromptFinished { prompt: prompt() } };
        let mut q: VecDeque<EngineInput> = VecDeque::new();
        assert_eq!(shed_digits(&mut q, 4), 0);
        // A caller's crafted RTP: a new digit in every packet, around two prompt ends.
        q.push_back(digit(1, '1'));
        q.push_back(finished(2));
        for _ in 0..6 {
            q.push_back(digit(1, '9'));
        }
        q.push_back(finished(3));
        assert_eq!(shed_digits(&mut q, 4), 5, "9 waiting, bound 4");
        assert_eq!(q.len(), 4);
        let keys: Vec<String> = q
            .iter()
            .map(|e| match e {
                EngineInput::Media { input: MediaInput::Digit { key, .. }, .. } => key.to_string(),
                EngineInput::Media { input: MediaInput::PromptFinished { .. }, call } => format!("end {call}"),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(keys, ["1", "end c2", "9", "end c3"], "the oldest digits and every prompt end stay, in order");
        // Only prompt ends left past the bound: they are kept (a few per call).
        let mut q: VecDeque<EngineInput> = (0..6).map(finished).collect();
        assert_eq!(shed_digits(&mut q, 4), 0);
        assert_eq!(q.len(), 6);
    }

    #[test]
    fn a_prompt_is_paced_reported_finished_and_the_port_freed_on_close() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut shards = MediaShards::start(&tx).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        phone.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let call = CallId(7);
        let (i, addr) = open_call(&mut shards, call, phone.local_addr().unwrap(), prompts(5));
        shards.send(i, ShardInput::Command { call, cmd: MediaCommand::Play { prompt: prompt() } });

        let mut buf = [0u8; 512];
        let mut seqs = Vec::new();
        let first = Instant::now();
        for _ in 0..5 {
            let (n, from) = phone.recv_from(&mut buf).unwrap();
            assert_eq!((n, from), (12 + 160, addr), "a 20 ms PCMU frame from the call's RTP port");
            seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
        }
        // Paced on the 20 ms clock, not sent in a burst: four intervals at least 60 ms.
        assert!(first.elapsed() >= Duration::from_millis(60), "5 frames in {:?}", first.elapsed());
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");
        match next_input(&mut rx) {
            EngineInput::Media { call: c, input: MediaInput::PromptFinished { prompt: p } } => assert_eq!((c, p), (call, prompt())),
            other => panic!("expected PromptFinished, got {other:?}"),
        }

        shards.send(i, ShardInput::Close { call });
        let until = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(addr).is_err() {
            assert!(Instant::now() < until, "the call's RTP port was not released on close");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn events_wait_in_order_while_the_engine_queue_is_full() {
        let (tx, mut rx) = mpsc::channel(1);
        // The engine is busy: its queue is full before the calls start.
        tx.try_send(EngineInput::Media { call: CallId(99), input: MediaInput::RtpTimeout }).unwrap();
        let mut shards = MediaShards::start(&tx).unwrap();
        let phone = loopback();
        let calls = [CallId(1), CallId(2), CallId(3)];
        for call in calls {
            let (i, _) = open_call(&mut shards, call, phone.local_addr().unwrap(), prompts(1));
            shards.send(i, ShardInput::Command { call, cmd: MediaCommand::Play { prompt: prompt() } });
        }
        // Long enough for every prompt to have finished while the queue was full.
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(next_input(&mut rx), EngineInput::Media { call: CallId(99), .. }));
        let mut finished = Vec::new();
        for _ in calls {
            match next_input(&mut rx) {
                EngineInput::Media { call, input: MediaInput::PromptFinished { .. } } => finished.push(call),
                other => panic!("expected PromptFinished, got {other:?}"),
            }
        }
        finished.sort_by_key(|c| c.0);
        assert_eq!(finished, calls, "no event lost while the engine's queue was full");
    }

    #[test]
    fn commands_for_unknown_calls_and_hostile_datagrams_are_ignored() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut shards = MediaShards::start(&tx).unwrap();
        let (i, _) = shards.pick().unwrap();
        shards.send(i, ShardInput::Command { call: CallId(5), cmd: MediaCommand::StopPrompt });
        shards.send(i, ShardInput::Close { call: CallId(5) });
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        phone.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let call = CallId(6);
        let (i, addr) = open_call(&mut shards, call, phone.local_addr().unwrap(), prompts(2));
        // Garbage and oversized datagrams at the call's port before its prompt.
        let stranger = loopback();
        for len in [0usize, 1, 11, 12, 3000] {
            let _ = stranger.send_to(&vec![0xA5; len], addr);
        }
        shards.send(i, ShardInput::Command { call, cmd: MediaCommand::Play { prompt: prompt() } });
        let mut buf = [0u8; 512];
        for _ in 0..2 {
            assert_eq!(phone.recv_from(&mut buf).unwrap(), (172, addr));
        }
        assert!(matches!(next_input(&mut rx), EngineInput::Media { input: MediaInput::PromptFinished { .. }, .. }));
    }
}
