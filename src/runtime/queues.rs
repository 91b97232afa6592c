//! The engine task's two queues ([`Queues`]), and the queue of new INVITEs over UDP,
//! served in turn between sources ([`FairQueue`]).
//!
//! New INVITEs wait apart from everything else (the engine serves the calls it has
//! first, see `EngineTask::run`). With one first-in-first-out queue, a flood from one
//! sender fills it: every other caller's INVITE waits behind thousands of the flood's,
//! is refused as stale (`[overload] max_delay`) or dropped at a full queue. Here each
//! source ([`crate::sip::source`]: a trunk by address, anyone else by network) has a
//! queue of its own, and the engine takes one INVITE from each source in turn
//! (round robin), so a caller from another network waits behind at most one INVITE of
//! each busy source, whatever the flood.
//!
//! Bounds, and what happens at them (the datagram is dropped, counted and logged at
//! most once a second by the reader; the caller's INVITE is retransmitted):
//! - one source holds at most [`PER_SOURCE`] INVITEs;
//! - all sources but the trunks hold at most [`CAPACITY`] together; each configured
//!   trunk has its own [`PER_SOURCE`] on top, so no flood can take a trunk's room;
//! - at most [`MAX_SOURCES`] sources have INVITEs waiting; past that, newcomers share
//!   one queue ([`SourceKey::Others`]). A source whose queue is empty has no entry.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify};

use super::input::EngineInput;
use crate::sip::source::{SourceKey, Sources};

/// Capacity of the channel into the engine task. UDP readers wait when it is full (the
/// kernel buffer then absorbs bursts, and SIP retransmits what it drops).
const ENGINE_QUEUE: usize = 16_384;


/// The engine task's two queues: `tx`/`rx` carry everything but new INVITEs over UDP,
/// which wait in `invites`, served in turn between sources and only when the main
/// queue is empty (see [`FairQueue`]).
pub(super) struct Queues {
    pub(super) tx: mpsc::Sender<EngineInput>,
    pub(super) rx: mpsc::Receiver<EngineInput>,
    pub(super) invites: Arc<FairQueue>,
}

impl Queues {
    /// `trunks`: `[sip] trunks`, each a source of its own in the INVITE queue.
    pub(super) fn new(trunks: &[IpAddr]) -> Queues {
        let (tx, rx) = mpsc::channel(ENGINE_QUEUE);
        Queues { tx, rx, invites: Arc::new(FairQueue::new(trunks)) }
    }
}

/// INVITEs waiting from all sources but the trunks: past this many the engine is
/// seconds behind.
pub(super) const CAPACITY: usize = 8_192;

/// INVITEs waiting from one source.
pub(super) const PER_SOURCE: usize = 1_024;

/// Sources with INVITEs waiting.
pub(super) const MAX_SOURCES: usize = 4_096;

/// Why an INVITE was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// Its source's queue is full.
    Source,
    /// All sources but the trunks hold [`CAPACITY`].
    All,
}

#[derive(Default)]
struct Inner {
    sources: Sources,
    queues: HashMap<SourceKey, VecDeque<EngineInput>>,
    /// Sources with INVITEs waiting, in the order they are served.
    turn: VecDeque<SourceKey>,
    /// INVITEs waiting from sources other than trunks.
    shared: usize,
    /// INVITEs waiting in all.
    len: usize,
}

/// The fair INVITE queue: the UDP readers push, the engine task pops.
#[derive(Default)]
pub(super) struct FairQueue {
    inner: Mutex<Inner>,
    ready: Notify,
}

impl FairQueue {
    pub(super) fn new(trunks: &[IpAddr]) -> FairQueue {
        let q = FairQueue::default();
        q.set_trunks(trunks);
        q
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters and queues: still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new configuration's trunks (INVITEs already waiting stay where they are).
    pub(super) fn set_trunks(&self, trunks: &[IpAddr]) {
        self.lock().sources = Sources::new(trunks.iter().copied());
    }

    /// Queues a new INVITE from `from`, unless a bound is reached.
    pub(super) fn push(&self, from: IpAddr, input: EngineInput) -> Result<(), Full> {
        let mut q = self.lock();
        let mut key = q.sources.key(from);
        if !q.queues.contains_key(&key) && q.queues.len() >= MAX_SOURCES && !key.is_trunk() {
            key = SourceKey::Others;
        }
        if !key.is_trunk() && q.shared >= CAPACITY {
            return Err(Full::All);
        }
        let inner = &mut *q;
        let queue = inner.queues.entry(key).or_default();
        if queue.len() >= PER_SOURCE {
            return Err(Full::Source);
        }
        if queue.is_empty() {
            inner.turn.push_back(key);
        }
        queue.push_back(input);
        inner.len += 1;
        if !key.is_trunk() {
            inner.shared += 1;
        }
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// The next INVITE: the oldest of the source whose turn it is.
    pub(super) fn pop(&self) -> Option<EngineInput> {
        let mut q = self.lock();
        let inner = &mut *q;
        while let Some(key) = inner.turn.pop_front() {
            let Some(queue) = inner.queues.get_mut(&key) else { continue };
            let Some(input) = queue.pop_front() else {
                inner.queues.remove(&key);
                continue;
            };
            if queue.is_empty() {
                inner.queues.remove(&key);
            } else {
                inner.turn.push_back(key);
            }
            inner.len = inner.len.saturating_sub(1);
            if !key.is_trunk() {
                inner.shared = inner.shared.saturating_sub(1);
            }
            return Some(input);
        }
        None
    }

    /// Waits for the next INVITE. Cancel-safe: an INVITE is taken only by the poll that
    /// returns it.
    pub(super) async fn next(&self) -> EngineInput {
        loop {
            if let Some(input) = self.pop() {
                return input;
            }
            self.ready.notified().await;
        }
    }

    /// INVITEs waiting.
    pub(super) fn len(&self) -> usize {
        self.lock().len
    }

    /// Sources with INVITEs waiting (for tests).
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.lock().queues.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::sip::{Peer, Transport};

    fn invite(from: &str, n: u32) -> (IpAddr, EngineInput) {
        let ip: IpAddr = from.parse().unwrap();
        let peer = Peer { transport: Transport::Udp, remote: (ip, 5060).into(), local: "127.0.0.1:5060".parse().unwrap(), conn: None };
        (ip, EngineInput::Sip { peer, bytes: Bytes::from(n.to_string()), received: Instant::now() })
    }

    fn who(input: &EngineInput) -> String {
        match input {
            EngineInput::Sip { peer, bytes, .. } => format!("{}#{}", peer.remote.ip(), String::from_utf8_lossy(bytes)),
            _ => String::new(),
        }
    }

    #[test]
    fn sources_are_served_in_turn_so_a_flood_does_not_delay_another_network() {
        let q = FairQueue::new(&[]);
        for n in 0..1000 {
            let (ip, i) = invite("198.51.100.7", n);
            q.push(ip, i).unwrap();
        }
        let (ip, i) = invite("203.0.113.9", 0);
        q.push(ip, i).unwrap();
        let first: Vec<String> = (0..3).filter_map(|_| q.pop()).map(|i| who(&i)).collect();
        assert_eq!(first, ["198.51.100.7#0", "203.0.113.9#0", "198.51.100.7#1"]);
        assert_eq!(q.len(), 998);
        while q.pop().is_some() {}
        assert_eq!((q.len(), q.sources()), (0, 0), "an emptied source leaves no entry");
    }

    #[test]
    fn a_source_holds_at_most_its_share_and_trunks_keep_room_when_the_rest_is_full() {
        let q = FairQueue::new(&["192.0.2.1".parse().unwrap()]);
        for n in 0..PER_SOURCE as u32 {
            let (ip, i) = invite("198.51.100.7", n);
            q.push(ip, i).unwrap();
        }
        let (ip, i) = invite("198.51.100.8", 0);
        assert_eq!(q.push(ip, i), Err(Full::Source), "same /24, same source");
        // Fill the shared capacity from seven more networks.
        for net in 0..(CAPACITY / PER_SOURCE - 1) {
            for n in 0..PER_SOURCE as u32 {
                let (ip, i) = invite(&format!("10.0.{net}.1"), n);
                q.push(ip, i).unwrap();
            }
        }
        assert_eq!(q.len(), CAPACITY);
        let (ip, i) = invite("10.200.0.1", 0);
        assert_eq!(q.push(ip, i), Err(Full::All));
        let (ip, i) = invite("192.0.2.1", 0);
        assert_eq!(q.push(ip, i), Ok(()), "a trunk has room of its own");
        assert!(q.sources() <= MAX_SOURCES + 1);
    }

    #[test]
    fn past_the_source_cap_newcomers_share_one_queue() {
        let q = FairQueue::new(&[]);
        for n in 0..(MAX_SOURCES as u32 + 10) {
            let (ip, i) = invite(&format!("10.{}.{}.1", n / 256, n % 256), n);
            q.push(ip, i).unwrap();
        }
        assert_eq!(q.sources(), MAX_SOURCES + 1);
        assert_eq!(q.len(), MAX_SOURCES + 10);
    }

    #[tokio::test]
    async fn next_waits_for_a_push() {
        let q = std::sync::Arc::new(FairQueue::new(&[]));
        let q2 = q.clone();
        let t = tokio::spawn(async move { who(&q2.next().await) });
        tokio::task::yield_now().await;
        let (ip, i) = invite("127.0.0.9", 7);
        q.push(ip, i).unwrap();
        assert_eq!(t.await.unwrap(), "127.0.0.9#7");
    }
}
