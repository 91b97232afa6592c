//! Issue 14: stopping, restarting and stalling without losing a call. The real binary,
//! SIPp callers and operators, loopback: a drain under `SIGTERM` with 20 calls in
//! progress, `cc112 health` and OPTIONS through the states, a second `SIGTERM`, and a
//! supervisor's watchdog (a `NOTIFY_SOCKET` listener) that goes silent when the engine
//! thread stalls.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cc112::store::query::{CallFilter, Reader};
use cc112::store::UtcMs;

use crate::harness::{corpora, free_ports, reserve_ports, scenario, sipp_from, sipp_to, Gateway, Sipp};
use crate::operators::{answer_401, register_over};

/// A gateway with `operators` operators (`op-1`...), medical only, password
/// `pw-op-N`, no wrap-up, this grace; `extra` is appended to the config.
fn gateway(operators: usize, grace: &str, env: &[(&str, &str)]) -> Gateway {
    let port = free_ports(1);
    let media = reserve_ports(402);
    let media = media + media % 2;
    let mut ops = String::new();
    for n in 1..=operators {
        let (md5, _) = cc112::config::operator_hash(&format!("op-{n}"), "cc112", &format!("pw-op-{n}"));
        ops += &format!("[[operators]]\nid = \"op-{n}\"\nname = \"Operator {n}\"\ndepartments = [\"medical\"]\nha1_md5 = \"{md5}\"\n");
    }
    let toml = format!(
        "[sip]\nlisten_udp = [\"127.0.0.1:{port}\"]\nlisten_tcp = [\"127.0.0.1:{port}\"]\n[media]\naddress = \"127.0.0.1\"\nport_min = {media}\nport_max = {}\n\
[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n[acd]\nwrap_up = \"0s\"\n[shutdown]\ngrace = \"{grace}\"\n{ops}",
        media + 399
    );
    Gateway::start_config_env(&toml, SocketAddr::from(([127, 0, 0, 1], port)), env)
}

/// Registers operators `ops` with Digest from one phone socket on `port` (each gets
/// its own binding to that address: one SIPp process then answers them all).
fn register_phone(gw: &Gateway, port: u16, ops: std::ops::RangeInclusive<usize>) {
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for n in ops {
        let user = format!("op-{n}");
        let challenge = register_over(&sock, gw.sip, &user, 10 * n as u32, None).expect("a challenge");
        let auth = answer_401(&challenge, &user, &format!("pw-op-{n}"), gw.sip);
        let ok = register_over(&sock, gw.sip, &user, 10 * n as u32 + 1, Some(auth)).expect("an answer");
        assert!(ok.starts_with("SIP/2.0 200"), "{user}: {ok}");
    }
}

/// A scenario made from a shipped one with these replacements, written to `dir`.
fn scenario_from(dir: &Path, name: &str, from: &str, replacements: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(scenario(from)).unwrap();
    for (a, b) in replacements {
        assert!(text.contains(a), "{from} has no {a:?}");
        text = text.replace(a, b);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A SIPp run in a thread of its own.
fn sipp_thread(target: SocketAddr, args: Vec<String>) -> std::thread::JoinHandle<Sipp> {
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp_to(target, &args)
    })
}

/// One request from a raw socket; the status and the whole response, or `None` after
/// `wait`, and how long the answer took.
fn ask(sock: &UdpSocket, gw: SocketAddr, request: &str, wait: Duration) -> (Option<(u16, String)>, Duration) {
    sock.set_read_timeout(Some(wait)).unwrap();
    let t = Instant::now();
    sock.send_to(request.as_bytes(), gw).unwrap();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = sock.recv(&mut buf) else { return (None, t.elapsed()) };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
        // 100 Trying is not the answer.
        if status >= 200 {
            return (Some((status, text)), t.elapsed());
        }
    }
}

fn options(sock: &UdpSocket, gw: SocketAddr, n: u32) -> String {
    let local = sock.local_addr().unwrap();
    format!(
        "OPTIONS sip:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{n}x{}\r\nMax-Forwards: 70\r\nFrom: <sip:lb@{local}>;tag=lb{n}\r\nTo: <sip:{gw}>\r\nCall-ID: probe-{n}-{}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    )
}

fn invite(sock: &UdpSocket, gw: SocketAddr, n: u32) -> String {
    let local = sock.local_addr().unwrap();
    let sdp = format!("v=0\r\no=t {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n", local.port() + 2);
    format!(
        "INVITE sip:112@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKlate{n}x{}\r\nMax-Forwards: 70\r\nFrom: <sip:0877{n}@127.0.0.1>;tag=late{n}\r\nTo: <sip:112@{gw}>\r\nCall-ID: late-{n}-{}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        local.port(),
        local.port(),
        sdp.len()
    )
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

/// The acceptance of issue 14: 20 calls in progress (10 in the IVR, 10 bridged to
/// SIPp operators), then SIGTERM. A new INVITE gets 503 with Retry-After at once,
/// OPTIONS 503; 5 callers hang up during the drain and get their 200, 5 operators hang
/// up and get theirs; the grace's end sends a BYE to the other callers and operators
/// (every SIPp run ends successfully); exit code 0; every record closed with the right
/// outcome, and none is `interrupted` at the next start.
#[test]
fn sigterm_with_twenty_calls_drains_them_answers_every_bye_and_closes_every_record() {
    let _load = crate::harness::heavy();
    let mut gw = gateway(10, "12s", &[]);
    let since = UtcMs::now();
    let dir = tempfile::tempdir().unwrap();
    // Two operator phones: op-1..5 hang up 8 s after answering (during the drain),
    // op-6..10 stay until the gateway's BYE.
    let (phone_a, phone_b) = (free_ports(1), free_ports(1));
    register_phone(&gw, phone_a, 1..=5);
    register_phone(&gw, phone_b, 6..=10);
    let talk = corpora().join("rtp/sipp_g711a.pcap");
    let hangs_up = scenario_from(dir.path(), "op_a.xml", "operator_hangs_up.xml", &[("TALK_FILE", talk.to_str().unwrap()), ("<pause milliseconds=\"1200\"/>", "<pause milliseconds=\"8000\"/>")]);
    let stays = scenario_from(dir.path(), "op_b.xml", "operator_answer.xml", &[("timeout=\"20000\"", "timeout=\"60000\"")]);
    let target = gw.sip;
    let phones: Vec<_> = [(phone_a, hangs_up), (phone_b, stays)]
        .into_iter()
        .map(|(port, sc)| std::thread::spawn(move || sipp_from(target, port, free_ports(4), &["-sf", &sc, "-m", "5"])))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // 10 callers press 1 (medical) and stay until a BYE; 10 stay in the IVR: 5 hang up
    // after 9 s, 5 stay until a BYE.
    let uri = format!("sip:112@{}", gw.sip);
    let press1 = scenario_from(dir.path(), "press1.xml", "caller_until_bye.xml", &[("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap())]);
    let silent = scenario_from(
        dir.path(),
        "silent.xml",
        "caller_until_bye.xml",
        &[("<nop>\n    <action>\n      <exec play_pcap_audio=\"PCAP_FILE\"/>\n    </action>\n  </nop>\n", "")],
    );
    let args = |sc: &str, extra: &[&str]| -> Vec<String> { ["-sf", sc, "-key", "ruri", &uri].iter().chain(extra).map(|s| s.to_string()).collect() };
    let bridged = sipp_thread(target, args(&press1, &["-m", "10", "-r", "10", "-l", "10"]));
    let quitters = sipp_thread(target, args(scenario("caller.xml").to_str().unwrap(), &["-m", "5", "-r", "10", "-l", "5", "-d", "9000"]));
    let waiters = sipp_thread(target, args(&silent, &["-m", "5", "-r", "10", "-l", "5"]));
    assert!(gw.wait_events("operator_answered", 10, Duration::from_secs(20)), "10 bridged calls:\n{}", gw.log());
    assert!(gw.wait_events("confirmed", 20, Duration::from_secs(5)), "20 calls up:\n{}", gw.log());
    assert_eq!(gw.events("ended").len(), 0, "all 20 calls in progress");

    // SIGTERM. A load balancer's probe sees 503 as soon as the drain has begun.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sigterm = Instant::now();
    let sigterm_utc = UtcMs::now();
    gw.signal("TERM");
    let mut probe_503 = None;
    for n in 0..100u32 {
        if let (Some((503, text)), _) = ask(&probe, gw.sip, &options(&probe, gw.sip, n), Duration::from_millis(500)) {
            assert!(header(&text, "Retry-After").is_some(), "{text}");
            probe_503 = Some(sigterm.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let probe_503 = probe_503.expect("OPTIONS get 503 once the drain has begun");
    // A new INVITE: 503 with Retry-After, at once.
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (answer, took) = ask(&caller, gw.sip, &invite(&caller, gw.sip, 1), Duration::from_secs(2));
    let (status, text) = answer.expect("the new INVITE is answered");
    assert_eq!(status, 503, "{text}");
    assert_eq!(header(&text, "Retry-After"), Some("10"), "{text}");
    assert!(took < Duration::from_millis(100), "503 after {took:?}");
    eprintln!("SIGTERM -> OPTIONS 503 after {probe_503:?}; new INVITE -> 503 in {took:?}");

    // The drain: callers and operators hang up and are answered (SIPp checks the 200s);
    // at the grace's end the rest get a BYE. The process exits 0.
    let code = gw.wait_exit(Duration::from_secs(40));
    let drained_in = sigterm.elapsed();
    assert_eq!(code, Some(0), "exit code after the drain:\n{}", gw.log());
    for (name, run) in [("bridged callers", bridged), ("IVR callers who hang up", quitters), ("IVR callers who stay", waiters)] {
        let run = run.join().unwrap();
        assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{name}: {}\n{}", run.stdout, gw.log());
    }
    for (name, run) in ["phone A (hangs up)", "phone B (stays)"].iter().zip(phones) {
        let run = run.join().unwrap();
        assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{name}: {}", run.stdout);
    }
    let drain_events = gw.events("drain");
    let steps: Vec<&str> = drain_events.iter().filter_map(|e| e["fields"]["step"].as_str()).collect();
    assert_eq!(steps, ["started", "grace_over", "over"], "{}", gw.log());
    assert_eq!(drain_events[0]["fields"]["calls"], 20);
    assert_eq!(drain_events[1]["fields"]["calls"], 10, "5 callers and 5 operators hung up during the drain");
    assert!(gw.log().contains("call records flushed"));
    eprintln!("drain: SIGTERM to exit {drained_in:?} (grace 12 s)");

    // Every record is closed, with the right outcome.
    let reader = Reader::open(&gw.db).unwrap();
    let rows = reader.list_calls(&CallFilter { range: Default::default(), department: None, outcome: None, limit: None, ..Default::default() }).unwrap();
    let rows: Vec<_> = rows.into_iter().filter(|r| r.started_at >= since).collect();
    assert_eq!(rows.len(), 20, "20 calls; the refused INVITE has no row");
    let count = |outcome: &str, by: &str, reason: &str| {
        rows.iter()
            .filter(|r| r.outcome.map(|o| o.as_str()) == Some(outcome) && r.hangup_by.as_deref() == Some(by) && r.end_reason.as_deref() == Some(reason))
            .count()
    };
    let summary: Vec<String> = rows.iter().map(|r| format!("{:?} {:?} {:?}", r.outcome, r.hangup_by, r.end_reason)).collect();
    assert_eq!(count("answered", "operator", "operator hung up"), 5, "{summary:#?}");
    assert_eq!(count("answered", "gateway", "gateway shutdown"), 5, "{summary:#?}");
    assert_eq!(count("abandoned_ivr", "caller", "caller hung up in the IVR"), 5, "{summary:#?}");
    assert_eq!(count("failed", "gateway", "gateway shutdown"), 5, "{summary:#?}");
    let during: Vec<_> = rows.iter().filter(|r| r.hangup_by.as_deref() != Some("gateway")).collect();
    assert!(during.iter().all(|r| r.ended_at.is_some_and(|t| t >= sigterm_utc)), "the callers' and operators' hang-ups came during the drain");

    // A new start: nothing was left open, nothing is interrupted.
    gw.restart();
    assert!(!gw.log().contains("closed as interrupted"), "{}", gw.log());
    let rows = Reader::open(&gw.db).unwrap().list_calls(&CallFilter { range: Default::default(), department: None, outcome: None, limit: None, ..Default::default() }).unwrap();
    assert!(rows.iter().all(|r| r.outcome.map(|o| o.as_str()) != Some("interrupted")), "{rows:?}");
}

/// `cc112 health` and OPTIONS through the states: taking calls (0, 200), draining
/// (1, 503), stopped (1, no answer); `cc112 drain` again changes nothing, and a second
/// SIGTERM cuts a 15-minute grace to 10 s.
#[test]
fn health_and_options_follow_the_state_and_a_second_sigterm_leaves_ten_seconds() {
    let mut gw = gateway(0, "15m", &[]);
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (code, line) = gw.cli("health");
    assert_eq!(code, Some(0), "{line}");
    assert!(line.starts_with("taking calls; 0 in progress"), "{line}");
    let (answer, _) = ask(&probe, gw.sip, &options(&probe, gw.sip, 1), Duration::from_secs(2));
    assert_eq!(answer.map(|a| a.0), Some(200));

    // One caller in the IVR, who stays until our BYE.
    let dir = tempfile::tempdir().unwrap();
    let silent = scenario_from(
        dir.path(),
        "silent.xml",
        "caller_until_bye.xml",
        &[("<nop>\n    <action>\n      <exec play_pcap_audio=\"PCAP_FILE\"/>\n    </action>\n  </nop>\n", "")],
    );
    let uri = format!("sip:112@{}", gw.sip);
    let caller = sipp_thread(gw.sip, ["-sf", &silent, "-key", "ruri", &uri, "-m", "1"].iter().map(|s| s.to_string()).collect());
    assert!(gw.wait_events("confirmed", 1, Duration::from_secs(10)), "{}", gw.log());

    gw.signal("TERM");
    assert!(gw.wait_for(|l| l.contains("drain started"), Duration::from_secs(5)), "{}", gw.log());
    let (code, line) = gw.cli("health");
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("draining: new calls get 503; 1 in progress;"), "{line}");
    let (answer, _) = ask(&probe, gw.sip, &options(&probe, gw.sip, 2), Duration::from_secs(2));
    let (status, text) = answer.unwrap();
    assert_eq!(status, 503, "{text}");
    assert_eq!(header(&text, "Retry-After"), Some("10"));
    let (code, line) = gw.cli("drain");
    assert_eq!(code, Some(0), "{line}");
    assert!(line.starts_with("draining"), "{line}");
    assert!(gw.wait_exit(Duration::from_secs(2)).is_none(), "a 15-minute grace: still draining");

    // A second SIGTERM: the caller gets its BYE 10 s later, then the process exits 0.
    let second = Instant::now();
    gw.signal("TERM");
    let code = gw.wait_exit(Duration::from_secs(30));
    let took = second.elapsed();
    assert_eq!(code, Some(0), "{}", gw.log());
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(16), "second SIGTERM to exit: {took:?}");
    let run = caller.join().unwrap();
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "the caller got its BYE: {}", run.stdout);
    assert!(gw.events("drain").iter().any(|e| e["fields"]["step"] == "hurried"), "{}", gw.log());

    let (code, line) = gw.cli("health");
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("stopped"), "{line}");
    let (answer, _) = ask(&probe, gw.sip, &options(&probe, gw.sip, 3), Duration::from_millis(500));
    assert!(answer.is_none(), "nobody answers on a stopped node");
}

/// What a `NOTIFY_SOCKET` listener received, with when.
type Notes = Arc<Mutex<Vec<(Instant, String)>>>;

/// A supervisor's notify socket in `dir`, read by a thread until `stop` is set.
fn notify_listener(dir: &Path, stop: Arc<std::sync::atomic::AtomicBool>) -> (String, Notes, std::thread::JoinHandle<()>) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let notes: Notes = Arc::new(Mutex::new(Vec::new()));
    let sink = notes.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(120);
        while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                let at = Instant::now();
                for line in String::from_utf8_lossy(&buf[..n]).lines() {
                    sink.lock().unwrap().push((at, line.to_string()));
                }
            }
        }
    });
    (path.to_str().unwrap().to_string(), notes, reader)
}

/// The watchdog: with `WatchdogSec=2` (`WATCHDOG_USEC`), `WATCHDOG=1` comes while the
/// engine works, stops within a second (half the interval) of a stall of the engine
/// thread (the test-only fault, `CC112_TEST_FAULTS=1`), comes back when it ends;
/// `cc112 health` says stalled meanwhile. `READY=1` at start, `STOPPING=1` at SIGTERM,
/// `STATUS=` with the calls in progress.
#[test]
fn the_watchdog_falls_silent_within_half_its_interval_when_the_engine_thread_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (socket, notes, reader) = notify_listener(dir.path(), stop.clone());
    let interval = Duration::from_secs(2);
    let usec = interval.as_micros().to_string();
    let mut gw = gateway(0, "5s", &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", &usec), (cc112::runtime::TEST_FAULTS_ENV, "1")]);
    let seen = |what: &str| notes.lock().unwrap().iter().filter(|(_, l)| l == what).count();
    let wait = |what: &str, n: usize| {
        let end = Instant::now() + Duration::from_secs(10);
        while seen(what) < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        seen(what) >= n
    };
    assert!(wait("READY=1", 1), "READY=1: {:?}\n{}", notes.lock().unwrap(), gw.log());
    assert!(wait("WATCHDOG=1", 5), "pings while healthy");
    assert!(notes.lock().unwrap().iter().any(|(_, l)| l == "STATUS=taking calls; 0 in progress"));

    // The engine thread blocks for 3 s.
    let stall = Duration::from_secs(3);
    let before = seen("WATCHDOG=1");
    let stalled_at = Instant::now();
    let reply = cc112::runtime::control::ask(&gw.socket(), &cc112::runtime::control::NodeCommand::TestStallEngine { ms: stall.as_millis() as u64 }).unwrap();
    assert!(matches!(reply, cc112::runtime::control::NodeReply::State { .. }), "{reply:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let (code, line) = gw.cli("health");
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("stalled: the engine thread has made no progress for"), "{line}");
    std::thread::sleep((stalled_at + stall + Duration::from_secs(1)).saturating_duration_since(Instant::now()));
    assert!(seen("WATCHDOG=1") > before, "pings come back when the engine does");
    let pings: Vec<Instant> = notes.lock().unwrap().iter().filter(|(_, l)| l == "WATCHDOG=1").map(|(t, _)| *t).collect();
    let last_in_stall = pings.iter().filter(|t| **t >= stalled_at && **t < stalled_at + stall).max().copied();
    let silent_after = last_in_stall.map_or(Duration::ZERO, |t| t - stalled_at);
    let resumed = pings.iter().find(|t| **t >= stalled_at + stall).copied().unwrap();
    eprintln!("watchdog: last ping {silent_after:?} after the stall began; pings again {:?} after it", resumed - stalled_at);
    assert!(silent_after < interval / 2, "pings went on {silent_after:?} into the stall (WatchdogSec {interval:?})");
    assert!(resumed - stalled_at >= stall, "no ping during the stall");
    assert!(notes.lock().unwrap().iter().any(|(_, l)| l.starts_with("STATUS=stalled: the engine thread")), "{:?}", notes.lock().unwrap());

    gw.signal("TERM");
    assert_eq!(gw.wait_exit(Duration::from_secs(20)), Some(0), "{}", gw.log());
    assert_eq!(seen("STOPPING=1"), 1);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.join().unwrap();
}

/// Without `CC112_TEST_FAULTS=1` the fault is refused: production cannot set it off.
#[test]
fn the_test_fault_is_refused_unless_the_gateway_was_started_for_tests() {
    let gw = gateway(0, "1s", &[]);
    let reply = cc112::runtime::control::ask(&gw.socket(), &cc112::runtime::control::NodeCommand::TestStallEngine { ms: 1000 }).unwrap();
    assert!(matches!(reply, cc112::runtime::control::NodeReply::Error { .. }), "{reply:?}");
    let (code, line) = gw.cli("health");
    assert_eq!(code, Some(0), "{line}");
}
