//! rtp_meter: the measuring callers of load benchmark W2 (issue 7, `bench/w2.py`).
//!
//! Binds `--count` RTP ports on 127.0.0.1 (`--base-port`, +2, +4, ...), the ports SIPp
//! puts in its SDP offers, and for each port:
//! - receives the gateway's RTP (the IVR prompts) and stamps every datagram with the
//!   kernel's receive time (`SO_TIMESTAMPNS` via `recvmsg`), so this program's own
//!   scheduling delays on a loaded machine do not count as the gateway's jitter;
//!   `SO_RXQ_OVFL` reports datagrams the kernel dropped because this program did not
//!   read fast enough, so they are not blamed on the gateway;
//! - computes packets received, expected (from sequence numbers, RFC 3550 A.1, with
//!   wrap), lost = expected − received (A.3), the interarrival jitter J (A.8, 8000 Hz;
//!   its mean over the stream and its max) and the largest gap between two consecutive
//!   packets of one talkspurt: a pair counts only when its timestamp delta is 160 × its
//!   sequence delta, so the gateway's intentional silences between prompts are not
//!   gaps, while a packet lost inside a prompt is;
//! - is symmetric like a phone: from the first packet on it sends its own 20 ms PCMU
//!   frames back to that packet's source, from the same socket, until `--hold-seconds`
//!   after that first packet (the caller hangs up) or the end.
//!
//! `--codec opus` makes them Opus callers (RFC 7587, payload type 111, 48 kHz clock): they
//! send a second of the same tone pre-encoded at start by the gateway's own libopus
//! (constant bit rate, so every packet has one size), in a loop, and measure jitter and
//! gaps in 48 kHz units (reported in ms like PCMU's).
//!
//! Runs until stdin closes or `--seconds` have passed, then prints one JSON object on
//! stdout. Writes `ready` on stderr once every port is bound.

// A measuring tool, not the gateway: the crate's no-panic lints do not apply (raw epoll and socket calls need unsafe).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, unsafe_code)]

use std::io::Read;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use rand::Rng;
use serde_json::json;

/// Samples per 20 ms G.711 frame at 8000 Hz: the RTP timestamp step of one packet.
const FRAME: u32 = 160;
const CLOCK_HZ: f64 = 8000.0;
/// Largest datagram read; longer ones are truncated and counted as malformed.
const MAX_DATAGRAM: usize = 2048;

#[derive(Parser, Debug)]
#[command(about = "RTP callers for bench W2: kernel-timestamped loss, jitter and gaps")]
struct Args {
    /// First RTP port; stream i uses base_port + 2*i.
    #[arg(long, default_value_t = 50000)]
    base_port: u16,
    /// Number of streams (ports).
    #[arg(long)]
    count: usize,
    /// Stop after this many seconds even if stdin stays open.
    #[arg(long)]
    seconds: Option<f64>,
    /// Each stream stops sending this long after its first received packet (the
    /// caller hangs up); without it, streams send until the end.
    #[arg(long)]
    hold_seconds: Option<f64>,
    /// What the callers send: "tone" (speech-level 400 + 550 Hz, so the gateway's
    /// in-band DTMF detector analyses every frame, as with a talking caller) or
    /// "silence" (µ-law 0xFF, which the detector's energy gate skips), or "noise" (a
    /// second of white noise at about −40 dBFS, looped: above the voice detector's
    /// −55 dBFS gate but not speech, so the detector runs for the whole call, as for a
    /// caller who breathes and does not speak).
    #[arg(long, default_value = "tone")]
    audio: String,
    /// The callers' codec: "pcmu" (payload type 0) or "opus" (payload type 111, the one
    /// bench/w2.py's Opus offer uses).
    #[arg(long, default_value = "pcmu")]
    codec: String,
}

/// The RTP clock of the stream: units per 20 ms packet and units per second.
#[derive(Debug, Clone, Copy)]
struct Clock {
    frame: u32,
    hz: f64,
}

const PCMU_CLOCK: Clock = Clock { frame: FRAME, hz: CLOCK_HZ };
const OPUS_CLOCK: Clock = Clock { frame: 960, hz: 48000.0 };

impl Default for Clock {
    fn default() -> Self {
        PCMU_CLOCK
    }
}

/// What the callers send: payload type, clock, and the payloads sent in turn.
struct Voice {
    payload_type: u8,
    clock: Clock,
    frames: Vec<Vec<u8>>,
}

/// The callers' audio in `codec`: PCMU repeats one 20 ms frame; Opus, a second of the
/// tone encoded once here (CBR, 60 octets per packet), in a loop.
fn voice(codec: &str, audio: &str) -> Result<Voice, String> {
    if audio == "noise" {
        if codec != "pcmu" {
            return Err("--audio noise: PCMU only".into());
        }
        let mut x: u32 = 0x1234_5678;
        let frames = (0..50)
            .map(|_| {
                (0..FRAME)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        linear_to_ulaw((i32::from((x >> 16) as u16) - 32768) as i16 / 100)
                    })
                    .collect()
            })
            .collect();
        return Ok(Voice { payload_type: 0, clock: PCMU_CLOCK, frames });
    }
    let frame = audio_frame(audio)?;
    match codec {
        "pcmu" => Ok(Voice { payload_type: 0, clock: PCMU_CLOCK, frames: vec![frame] }),
        "opus" => {
            use cc112::media::opus::{OpusEncoder, PROMPT_SETTINGS};
            let mut pcm = Vec::new();
            cc112::media::g711::decode_ulaw(&frame, &mut pcm);
            let mut enc = OpusEncoder::new(PROMPT_SETTINGS).map_err(|e| e.to_string())?;
            let frames = (0..50)
                .map(|_| {
                    let mut out = Vec::new();
                    enc.encode(&pcm, &mut out).map(|()| out).map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Voice { payload_type: 111, clock: OPUS_CLOCK, frames })
        }
        other => Err(format!("--codec {other}: expected pcmu or opus")),
    }
}

/// What one port saw.
#[derive(Debug, Default, Clone)]
struct Stream {
    ssrc: Option<u32>,
    ssrc_changes: u64,
    /// Packets and expected packets of earlier SSRCs on this port.
    received_before: u64,
    expected_before: u64,
    received: u64,
    base_seq: u16,
    max_seq: u16,
    cycles: u64,
    /// Previous packet in arrival order: sequence, timestamp, arrival (ns).
    prev: Option<(u16, u32, i128)>,
    /// RFC 3550 A.8 jitter, in timestamp units.
    jitter: f64,
    jitter_sum: f64,
    jitter_samples: u64,
    jitter_max: f64,
    largest_gap_ns: i128,
    /// When the largest gap ended (kernel arrival time, ns since the epoch): gaps that
    /// line up across streams point at a stall of the sender, not of one stream.
    largest_gap_at_ns: i128,
    malformed: u64,
    foreign_source: u64,
    no_kernel_timestamp: u64,
    kernel_dropped: u32,
    clock: Clock,
}

impl Stream {
    fn expected(&self) -> u64 {
        if self.ssrc.is_none() {
            return 0;
        }
        let ext_max = self.cycles + u64::from(self.max_seq);
        ext_max.saturating_sub(u64::from(self.base_seq)) + 1
    }

    fn total_received(&self) -> u64 {
        self.received_before + self.received
    }

    fn total_expected(&self) -> u64 {
        self.expected_before + self.expected()
    }

    fn lost(&self) -> u64 {
        // Duplicates can make received exceed expected (RFC 3550 A.3): not negative.
        self.total_expected().saturating_sub(self.total_received())
    }

    fn packet(&mut self, arrival_ns: i128, seq: u16, ts: u32, ssrc: u32) {
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.ssrc_changes += 1;
                self.received_before += self.received;
                self.expected_before += self.expected();
            }
            self.ssrc = Some(ssrc);
            self.received = 0;
            self.base_seq = seq;
            self.max_seq = seq;
            self.cycles = 0;
            self.prev = None;
        }
        self.received += 1;
        // A.1: forward within half the sequence space is new (wrapping counts a cycle);
        // anything else is late or duplicate and leaves the maximum alone.
        let forward = seq.wrapping_sub(self.max_seq);
        if forward != 0 && forward < 0x8000 {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        }
        if let Some((pseq, pts, parr)) = self.prev {
            let arrival_delta = arrival_ns - parr;
            let ts_delta = ts.wrapping_sub(pts);
            // A.8: D(i-1, i) = (Rj - Ri) - (Sj - Si), in timestamp units.
            let d = arrival_delta as f64 * self.clock.hz / 1e9 - f64::from(ts_delta as i32);
            self.jitter += (d.abs() - self.jitter) / 16.0;
            self.jitter_sum += self.jitter;
            self.jitter_samples += 1;
            self.jitter_max = self.jitter_max.max(self.jitter);
            let seq_delta = seq.wrapping_sub(pseq) as i16;
            if seq_delta > 0 && ts_delta == self.clock.frame.wrapping_mul(seq_delta as u32) && arrival_delta > self.largest_gap_ns {
                self.largest_gap_ns = arrival_delta;
                self.largest_gap_at_ns = arrival_ns;
            }
        }
        self.prev = Some((seq, ts, arrival_ns));
    }
}

/// The fixed RTP header of a datagram: (sequence, timestamp, ssrc), if it is RTP v2.
fn rtp_header(d: &[u8]) -> Option<(u16, u32, u32)> {
    let h = d.get(..12)?;
    if h[0] >> 6 != 2 {
        return None;
    }
    // RTCP multiplexed on the port (RFC 5761): payload types 200..=204 with marker.
    if (192..=223).contains(&h[1]) {
        return None;
    }
    let seq = u16::from_be_bytes([h[2], h[3]]);
    let ts = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let ssrc = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    Some((seq, ts, ssrc))
}

fn setsockopt_int(fd: RawFd, opt: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a valid socket fd and a pointer to a c_int of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One datagram read by `recvmsg`.
struct Received {
    len: usize,
    from: Option<SocketAddr>,
    truncated: bool,
    /// Kernel receive time (CLOCK_REALTIME, ns), when the kernel gave one.
    kernel_ns: Option<i128>,
    /// Cumulative count of datagrams dropped on this socket for lack of buffer space.
    dropped: Option<u32>,
}

/// Control buffer for the cmsgs, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Cmsgs([u8; 128]);

fn recv_timestamped(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Received> {
    // SAFETY: every pointer in `msg` points to a live local buffer of the length given;
    // the kernel writes at most those lengths; the cmsg macros walk only within
    // msg_controllen as set by the kernel.
    unsafe {
        let mut addr: libc::sockaddr_storage = zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut control = Cmsgs([0; 128]);
        let mut msg: libc::msghdr = zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut kernel_ns = None;
        let mut dropped = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                kernel_ns = Some(i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec));
            } else if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SO_RXQ_OVFL {
                dropped = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let from = if i32::from(addr.ss_family) == libc::AF_INET {
            let a: libc::sockaddr_in = std::ptr::read_unaligned((&addr as *const libc::sockaddr_storage).cast());
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        } else {
            None
        };
        Ok(Received {
            len: (n as usize).min(buf.len()),
            from,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            kernel_ns,
            dropped,
        })
    }
}

fn realtime_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// 20 ms of µ-law audio: two tones well away from the DTMF frequencies at about
/// −20 dBFS each (whole cycles in 160 samples, so frames join without clicks), or
/// digital silence.
fn audio_frame(kind: &str) -> Result<Vec<u8>, String> {
    match kind {
        "silence" => Ok(vec![0xFF; FRAME as usize]),
        "tone" => Ok((0..FRAME)
            .map(|n| {
                let t = f64::from(n) / CLOCK_HZ;
                let x = 0.1 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()
                    + 0.1 * (2.0 * std::f64::consts::PI * 550.0 * t).sin();
                linear_to_ulaw((x * 32767.0) as i16)
            })
            .collect()),
        other => Err(format!("--audio {other}: expected tone or silence")),
    }
}

/// G.711 µ-law encoding (the classic Sun g711.c algorithm).
fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    // s is in 132..=32767: the segment is the position of its top bit above bit 7.
    let exponent = (31 - (s as u32).leading_zeros() - 7) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// One port: its socket, what it saw, and its own outgoing stream.
struct Port {
    sock: std::net::UdpSocket,
    stats: Stream,
    /// Where its RTP comes from (the gateway), learnt from the first packet, and when.
    peer: Option<(SocketAddr, Instant)>,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

#[derive(Default)]
struct SendCounts {
    sent: u64,
    errors: u64,
    /// Largest delay of a send slot behind its schedule: when this grows, this
    /// program could not keep up and sent its frames late.
    max_lag: Duration,
}

/// Every 20 ms, one frame on every port that has learnt its peer and not hung up.
/// The ports are spread over the 20 ms in SLOTS groups, one group per millisecond,
/// like phones whose clocks started at different moments: sending all of them at once
/// would hand the gateway every caller's frame in one burst each 20 ms.
const SLOTS: u32 = 20;
const SLOT: Duration = Duration::from_millis(1);

/// Datagrams read per port per wake-up at most, so one flooded port cannot starve the
/// others (level-triggered epoll reports it again).
const READS_PER_WAKE: usize = 8;

fn read_port(p: &mut Port, buf: &mut [u8]) {
    let fd = p.sock.as_raw_fd();
    for _ in 0..READS_PER_WAKE {
        let Ok(r) = recv_timestamped(fd, buf) else { return };
        let s = &mut p.stats;
        if let Some(d) = r.dropped {
            s.kernel_dropped = d;
        }
        let Some(from) = r.from else {
            s.malformed += 1;
            continue;
        };
        let header = if r.truncated { None } else { buf.get(..r.len).and_then(rtp_header) };
        let Some((seq, ts, ssrc)) = header else {
            s.malformed += 1;
            continue;
        };
        // Symmetric RTP: the first source is the gateway; later strangers are ignored.
        let (learnt, _) = *p.peer.get_or_insert((from, Instant::now()));
        if learnt != from {
            s.foreign_source += 1;
            continue;
        }
        let arrival = match r.kernel_ns {
            Some(t) => t,
            None => {
                s.no_kernel_timestamp += 1;
                realtime_ns()
            }
        };
        s.packet(arrival, seq, ts, ssrc);
    }
}

fn send_slot(ports: &mut [Port], slot: u32, packet: &mut [u8], voice: &Voice, hold: Option<Duration>, now: Instant, counts: &mut SendCounts) {
    for p in ports.iter_mut().skip(slot as usize).step_by(SLOTS as usize) {
        let Some((to, first)) = p.peer else { continue };
        if hold.is_some_and(|h| now.duration_since(first) >= h) {
            continue;
        }
        packet[0] = 0x80;
        packet[1] = voice.payload_type; // no marker
        packet[2..4].copy_from_slice(&p.seq.to_be_bytes());
        packet[4..8].copy_from_slice(&p.ts.to_be_bytes());
        packet[8..12].copy_from_slice(&p.ssrc.to_be_bytes());
        let payload = &voice.frames[usize::from(p.seq) % voice.frames.len()];
        packet[12..].copy_from_slice(payload);
        p.seq = p.seq.wrapping_add(1);
        p.ts = p.ts.wrapping_add(voice.clock.frame);
        match p.sock.send_to(packet, to) {
            Ok(_) => counts.sent += 1,
            Err(_) => counts.errors += 1,
        }
    }
}

/// The callers' one loop, on one thread: each millisecond it sends that slot's frames,
/// then reads every port epoll reports readable. Waking once a millisecond for all the
/// ports, instead of once per datagram, keeps this program's CPU (which on this
/// machine is taken from the gateway) small; the kernel receive timestamps keep the
/// measurement exact whatever the wake-up granularity.
fn io_loop(ports: &mut [Port], voice: &Voice, hold: Option<Duration>, stop: &std::sync::atomic::AtomicBool) -> Result<SendCounts, String> {
    use std::sync::atomic::Ordering;
    // SAFETY: plain syscalls on descriptors this function owns or borrows for its
    // duration; `events` is a live buffer of the length passed.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!("epoll_create1: {}", std::io::Error::last_os_error()));
    }
    for (i, p) in ports.iter().enumerate() {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        // SAFETY: see above.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, p.sock.as_raw_fd(), &mut ev) } < 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing the epoll descriptor created above.
            unsafe { libc::close(ep) };
            return Err(format!("epoll_ctl: {e}"));
        }
    }
    let mut counts = SendCounts::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut packet = vec![0u8; 12 + voice.frames[0].len()];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut next = Instant::now() + SLOT;
    let mut slot = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        // A late slot is caught up: each stream sends 50 frames per second of call.
        let now = Instant::now();
        while next <= now {
            counts.max_lag = counts.max_lag.max(now - next);
            slot = (slot + 1) % SLOTS;
            send_slot(ports, slot, &mut packet, voice, hold, now, &mut counts);
            next += SLOT;
        }
        loop {
            // SAFETY: see above.
            let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 0) };
            if n <= 0 {
                break;
            }
            for ev in events.iter().take(n as usize) {
                let i = ev.u64 as usize;
                if let Some(p) = ports.get_mut(i) {
                    read_port(p, &mut buf);
                }
            }
            if (n as usize) < events.len() {
                break;
            }
        }
    }
    // SAFETY: closing the epoll descriptor created above.
    unsafe { libc::close(ep) };
    Ok(counts)
}

/// Percentiles over streams, the same rule as bench/lib.py's pct.
fn dist(mut v: Vec<f64>) -> serde_json::Value {
    if v.is_empty() {
        return json!({"p50": null, "p99": null, "max": null});
    }
    v.sort_by(f64::total_cmp);
    let at = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    json!({"p50": at(50), "p99": at(99), "max": v[v.len() - 1]})
}

fn main() {
    let args = Args::parse();
    let payload = match voice(&args.codec, &args.audio) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rtp_meter: {e}");
            std::process::exit(2);
        }
    };
    match run(args, payload) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("rtp_meter: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: Args, payload: Voice) -> Result<serde_json::Value, String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let last = u32::from(args.base_port) + 2 * (args.count as u32).saturating_sub(1);
    if args.count == 0 || last > 65535 {
        return Err(format!("--count {} from --base-port {} does not fit in the port space", args.count, args.base_port));
    }
    let mut rng = rand::thread_rng();
    let mut ports = Vec::with_capacity(args.count);
    let mut timestamps_ok = true;
    for i in 0..args.count {
        let port = args.base_port + 2 * i as u16;
        let sock = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
        sock.set_nonblocking(true).map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
        if setsockopt_int(sock.as_raw_fd(), libc::SO_TIMESTAMPNS, 1).is_err() {
            timestamps_ok = false;
        }
        // Best effort: without it, drops by this program show up as loss.
        let _ = setsockopt_int(sock.as_raw_fd(), libc::SO_RXQ_OVFL, 1);
        ports.push(Port { sock, stats: Stream { clock: payload.clock, ..Stream::default() }, peer: None, ssrc: rng.gen(), seq: rng.gen(), ts: rng.gen() });
    }
    let hold = args.hold_seconds.map(Duration::from_secs_f64);
    eprintln!("ready: {} ports from {} (kernel timestamps: {})", args.count, args.base_port, if timestamps_ok { "on" } else { "OFF, falling back to read time" });

    // Until stdin closes or the time limit.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    if let Some(s) = args.seconds {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(s));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let started = Instant::now();
    let counts = io_loop(&mut ports, &payload, hold, &stop)?;
    let clock_hz = payload.clock.hz;
    let ran = started.elapsed().as_secs_f64();
    let streams: Vec<Stream> = ports.into_iter().map(|p| p.stats).collect();

    let seen: Vec<&Stream> = streams.iter().filter(|s| s.total_received() > 0).collect();
    let received: u64 = seen.iter().map(|s| s.total_received()).sum();
    let expected: u64 = seen.iter().map(|s| s.total_expected()).sum();
    let lost: u64 = seen.iter().map(|s| s.lost()).sum();
    let measured: Vec<&&Stream> = seen.iter().filter(|s| s.jitter_samples > 0).collect();
    let ms = |units: f64| units / clock_hz * 1000.0;
    Ok(json!({
        "ports": args.count,
        "base_port": args.base_port,
        "seconds": ran,
        "timestamps": if timestamps_ok { "kernel (SO_TIMESTAMPNS)" } else { "read time (SO_TIMESTAMPNS refused)" },
        "packets_without_kernel_timestamp": seen.iter().map(|s| s.no_kernel_timestamp).sum::<u64>(),
        "streams_seen": seen.len(),
        "received": received,
        "expected": expected,
        "lost": lost,
        "loss_pct": if expected > 0 { 100.0 * lost as f64 / expected as f64 } else { 0.0 },
        "dropped_by_meter_socket": streams.iter().map(|s| u64::from(s.kernel_dropped)).sum::<u64>(),
        "malformed": streams.iter().map(|s| s.malformed).sum::<u64>(),
        "foreign_source": streams.iter().map(|s| s.foreign_source).sum::<u64>(),
        "ssrc_changes": streams.iter().map(|s| s.ssrc_changes).sum::<u64>(),
        "sent": counts.sent,
        "send_errors": counts.errors,
        "sender_max_lag_ms": counts.max_lag.as_secs_f64() * 1000.0,
        "audio": args.audio,
        "codec": args.codec,
        "jitter_mean_ms": dist(measured.iter().map(|s| ms(s.jitter_sum / s.jitter_samples as f64)).collect()),
        "jitter_max_ms": dist(measured.iter().map(|s| ms(s.jitter_max)).collect()),
        "largest_gap_ms": dist(measured.iter().map(|s| s.largest_gap_ns as f64 / 1e6).collect()),
        "gaps_over_40ms_by_second": gaps_by_second(&measured),
    }))
}

/// For the streams whose largest gap exceeded 40 ms (two frames): how many of those gaps
/// ended in each second (Unix time), to line them up with what the gateway was doing.
fn gaps_by_second(streams: &[&&Stream]) -> serde_json::Value {
    let mut by: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for s in streams.iter().filter(|s| s.largest_gap_ns > 40_000_000) {
        *by.entry((s.largest_gap_at_ns / 1_000_000_000).to_string()).or_default() += 1;
    }
    json!(by)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_wrap_and_talkspurt_gaps() {
        let mut s = Stream::default();
        let ms = 1_000_000i128;
        // A talkspurt across the sequence wrap, one packet (65535) lost.
        s.packet(0, 65533, 1000, 7);
        s.packet(20 * ms, 65534, 1160, 7);
        s.packet(60 * ms, 0, 1480, 7);
        // A silence of 2 s (timestamp follows the time): not a gap.
        s.packet(2060 * ms, 1, 1480 + 16000, 7);
        assert_eq!(s.expected(), 4 + 1);
        assert_eq!(s.total_received(), 4);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.largest_gap_ns, 40 * ms);
        // Perfect pacing gives zero jitter.
        let mut p = Stream::default();
        for i in 0..100u16 {
            p.packet(i128::from(i) * 20 * ms, i, u32::from(i) * 160, 1);
        }
        assert_eq!(p.jitter_max, 0.0);
        assert_eq!(p.lost(), 0);
    }

    #[test]
    fn ulaw_matches_g711() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
    }
}
