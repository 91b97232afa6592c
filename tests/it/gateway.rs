//! The real binary on loopback, driven by SIPp and by raw sockets.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use cc112::sip::{parse, Message};

use crate::harness::{scenario, sipp, Gateway};

fn ruri(gw: &Gateway, user: &str) -> String {
    format!("sip:{user}@{}", gw.sip)
}

fn assert_all_ok(run: &crate::harness::Sipp, calls: u64) {
    assert_eq!(
        (run.exit_code, run.successful, run.failed),
        (Some(0), calls, 0),
        "SIPp stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn sipp_builtin_uac_udp_and_tcp_200_calls_each() {
    let _load = crate::harness::heavy();
    let gw = Gateway::start();
    for transport in ["u1", "t1"] {
        let run = sipp(&gw, &["-sn", "uac", "-s", "112", "-t", transport, "-m", "200", "-r", "100", "-l", "100"]);
        assert_all_ok(&run, 200);
    }
    assert!(gw.wait_events("ended", 400, Duration::from_secs(10)), "{}", gw.log());
    assert_eq!(gw.events("started").len(), 400);
}

#[test]
fn sipp_caller_holds_2s_then_hangs_up_udp_and_tcp_200_calls_each() {
    let _load = crate::harness::heavy();
    let gw = Gateway::start();
    let uri = ruri(&gw, "112");
    let sc = scenario("caller.xml");
    for transport in ["u1", "t1"] {
        let run = sipp(
            &gw,
            &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-d", "2000", "-t", transport, "-m", "200", "-r", "100", "-l", "250"],
        );
        assert_all_ok(&run, 200);
    }
    // Every call started, was answered, confirmed by ACK and ended by the caller's BYE.
    assert!(gw.wait_events("ended", 400, Duration::from_secs(10)), "{}", gw.log());
    for ev in ["started", "answered", "confirmed"] {
        assert_eq!(gw.events(ev).len(), 400, "{ev}");
    }
    let ended = gw.events("ended");
    assert!(ended.iter().all(|e| e["fields"]["reason"] == "caller_hangup"), "{ended:?}");
    assert!(ended.iter().all(|e| e["span"]["sip_call_id"].as_str().is_some_and(|s| !s.is_empty())));
}

#[test]
fn sipp_caller_without_ack_sees_200_retransmitted_then_a_bye() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("messages.log");
    let uri = ruri(&gw, "112");
    let sc = scenario("caller_no_ack.xml");
    let run = sipp(
        &gw,
        &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1", "-trace_msg", "-message_file", trace.to_str().unwrap()],
    );
    assert_all_ok(&run, 1);
    let log = std::fs::read_to_string(&trace).unwrap();
    let oks = log.matches("SIP/2.0 200 OK").count();
    // Received 200s (each also appears once per resend of the INVITE SIPp makes on
    // seeing a retransmission): at least the original and a retransmission.
    assert!(oks >= 2, "expected retransmitted 200 OK, trace:\n{log}");
    assert!(log.contains("BYE sip:0999@"), "the gateway's BYE goes to the caller's Contact:\n{log}");
    assert!(gw.wait_for(|l| l.contains("\"reason\":\"no_ack\""), Duration::from_secs(5)), "{}", gw.log());
}

#[test]
fn sipp_dialing_1120_gets_404_and_urn_service_sos_gets_200() {
    let gw = Gateway::start();
    let sc404 = scenario("caller_404.xml");
    for user in ["1120", "0112", "112a"] {
        let uri = ruri(&gw, user);
        let run = sipp(&gw, &["-sf", sc404.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]);
        assert_all_ok(&run, 1);
    }
    let sc = scenario("caller.xml");
    for uri in ["urn:service:sos", "urn:service:sos.fire", "tel:112"] {
        let run = sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", uri, "-m", "1"]);
        assert_all_ok(&run, 1);
    }
    let started = gw.events("started");
    let ids: Vec<&str> = started.iter().filter_map(|e| e["fields"]["identity"].as_str()).collect();
    assert_eq!(ids, vec!["urn:service:sos", "urn:service:sos.fire", "112"]);
}

#[test]
fn ipv6_loopback_works() {
    // This machine and CI have ::1; a machine without it fails here, loudly.
    let port = crate::harness::free_ports(1);
    let toml = format!("[sip]\nlisten_udp = [\"[::1]:{port}\"]\nlisten_tcp = [\"[::1]:{port}\"]\n[media]\naddress = \"::1\"\n");
    let gw = Gateway::start_config(&toml, format!("[::1]:{port}").parse().unwrap());
    let options = |transport: &str| {
        format!(
            "OPTIONS sip:[::1]:{port} SIP/2.0\r\nVia: SIP/2.0/{transport} [::1]:5999;branch=z9hG4bKv6{transport}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@[::1]>;tag=1\r\nTo: <sip:[::1]>\r\nCall-ID: v6-{transport}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let s = UdpSocket::bind("[::1]:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(options("UDP").as_bytes(), gw.sip).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    let mut t = TcpStream::connect(gw.sip).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    t.write_all(options("TCP").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut t, 1), vec![200]);
    // An emergency call over IPv6 gets an SDP answer with an IP6 address.
    let sdp = "v=0\r\no=c 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let inv = format!(
        "INVITE sip:112@[::1]:{port} SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5999;branch=z9hG4bKv6inv\r\nMax-Forwards: 70\r\nFrom: <sip:0812@[::1]>;tag=1\r\nTo: <sip:112@[::1]>\r\nCall-ID: v6-inv\r\nCSeq: 1 INVITE\r\nContact: <sip:0812@[::1]:5999>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    s.send_to(inv.as_bytes(), gw.sip).unwrap();
    let mut ok = None;
    while let Ok(n) = s.recv(&mut buf) {
        if let Ok(Message::Response(r)) = parse(&buf[..n]) {
            if r.status == 200 {
                ok = Some(r);
                break;
            }
        }
    }
    let ok = ok.expect("200 OK over IPv6");
    assert!(std::str::from_utf8(&ok.body).unwrap().contains("c=IN IP6 ::1"));
}

pub(crate) fn options(call_id: &str) -> String {
    format!(
        "OPTIONS sip:gw SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example>;tag=1\r\nTo: <sip:gw>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

pub(crate) fn read_responses(t: &mut TcpStream, want: usize) -> Vec<u16> {
    let mut framer = cc112::sip::framing::Framer::new(65536);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while out.len() < want {
        let n = match t.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        while let Ok(Some(cc112::sip::framing::Frame::Message(m))) = framer.next_frame() {
            if let Ok(Message::Response(r)) = parse(&m) {
                out.push(r.status);
            }
        }
    }
    out
}

#[test]
fn tcp_coalesced_and_split_messages_are_each_answered() {
    let gw = Gateway::start();
    let mut t = TcpStream::connect(gw.sip).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // Three messages in one write, then one split byte by byte.
    let three = format!("{}{}{}", options("co1"), options("co2"), options("co3"));
    t.write_all(three.as_bytes()).unwrap();
    for b in options("split1").as_bytes() {
        t.write_all(&[*b]).unwrap();
    }
    assert_eq!(read_responses(&mut t, 4), vec![200, 200, 200, 200]);
    // A CRLFCRLF keep-alive gets a CRLF pong (RFC 5626).
    t.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    t.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
}

#[test]
fn tcp_oversized_message_closes_the_connection_and_the_gateway_goes_on() {
    let gw = Gateway::start();
    let mut t = TcpStream::connect(gw.sip).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let huge = options("huge").replace("Content-Length: 0", "Content-Length: 70000");
    t.write_all(huge.as_bytes()).unwrap();
    let mut buf = [0u8; 16];
    let closed = matches!(t.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "connection closed on a message over the 64 KiB cap");
    let mut t2 = TcpStream::connect(gw.sip).unwrap();
    t2.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    t2.write_all(options("after").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut t2, 1), vec![200]);
}

#[test]
fn tcp_slow_message_and_idle_connections_are_closed_and_connections_per_address_capped() {
    // Short limits so the test takes seconds, not minutes.
    let gw = Gateway::start_with("tcp_idle_timeout = \"2s\"\ntcp_message_timeout = \"1s\"\nmax_tcp_connections_per_ip = 3");
    let addr = gw.sip;
    let mut buf = [0u8; 16];
    // Slow message: half a message, then nothing.
    let start = std::time::Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(&options("slow").as_bytes()[..40]).unwrap();
    assert!(matches!(slow.read(&mut buf), Ok(0) | Err(_)));
    let slow_closed = start.elapsed();
    assert!(slow_closed >= Duration::from_millis(900) && slow_closed < Duration::from_millis(1900), "{slow_closed:?}");
    // Idle: nothing at all.
    let start = std::time::Instant::now();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));
    let idle_closed = start.elapsed();
    assert!(idle_closed >= Duration::from_millis(1900) && idle_closed < Duration::from_millis(3500), "{idle_closed:?}");
    // At most 3 connections from 127.0.0.1: the 4th is closed at once.
    let conns: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fourth = TcpStream::connect(addr).unwrap();
    fourth.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(matches!(fourth.read(&mut buf), Ok(0) | Err(_)), "4th connection refused");
    let mut first = conns.into_iter().next().unwrap();
    first.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    first.write_all(options("capped-ok").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut first, 1), vec![200], "the admitted connections still work");
}

#[test]
fn sighup_reload_refuses_a_broken_file_and_applies_a_good_one() {
    let gw = Gateway::start();
    let good = std::fs::read_to_string(&gw.config_path).unwrap();
    let hup = || {
        let ok = std::process::Command::new("kill").args(["-HUP", &gw.pid().to_string()]).status().unwrap().success();
        assert!(ok);
    };
    // Broken: refused, with the problem's path in the log, and the gateway still answers 112.
    std::fs::write(&gw.config_path, good.replace("[media]", "[media]\nport_mni = 3")).unwrap();
    hup();
    assert!(gw.wait_for(|l| l.contains("config refused"), Duration::from_secs(5)), "{}", gw.log());
    assert!(gw.log().contains("port_mni"), "{}", gw.log());
    let sc = scenario("caller.xml");
    let uri = ruri(&gw, "112");
    assert_all_ok(&sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]), 1);
    let v1 = gw.events("started")[0]["fields"]["config_version"].as_str().unwrap().to_string();
    // Good, with one more emergency number: new calls use it.
    let extra = "\n[emergency]\nservice_urns = [\"urn:service:sos\"]\n[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"general\"\n[[emergency.numbers]]\nnumber = \"1500\"\nlabel = \"test line\"\n";
    std::fs::write(&gw.config_path, format!("{good}{extra}")).unwrap();
    hup();
    assert!(gw.wait_for(|l| l.contains("config reloaded"), Duration::from_secs(5)), "{}", gw.log());
    let uri = ruri(&gw, "1500");
    assert_all_ok(&sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]), 1);
    let started = gw.events("started");
    let v2 = started[1]["fields"]["config_version"].as_str().unwrap();
    assert_ne!(v1, v2, "each call records the config version it used");
}

#[test]
fn file_change_reload_under_load_keeps_calls_and_applies_to_new_calls_only() {
    let gw = Gateway::start();
    let good = std::fs::read_to_string(&gw.config_path).unwrap();
    let sc = scenario("caller.xml");
    let uri = ruri(&gw, "112");
    // 20 callers, each on the line for 8 s, all in progress while the file changes.
    let load = {
        let sc = sc.to_str().unwrap();
        let gw_ref = &gw;
        let uri = uri.as_str();
        std::thread::scope(|s| {
            let h = s.spawn(move || sipp(gw_ref, &["-sf", sc, "-key", "ruri", uri, "-d", "8000", "-m", "20", "-r", "40", "-l", "20"]));
            assert!(gw.wait_events("confirmed", 20, Duration::from_secs(10)), "20 calls up: {}", gw.log());
            // A broken file: refused, and nothing changes for anyone.
            std::fs::write(&gw.config_path, good.replace("[media]", "[media]\nport_mni = 3")).unwrap();
            assert!(gw.wait_for(|l| l.contains("config refused"), Duration::from_secs(5)), "{}", gw.log());
            // A good file with a new emergency number: new calls use it.
            let extra = "\n[emergency]\nservice_urns = [\"urn:service:sos\"]\n[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"general\"\n[[emergency.numbers]]\nnumber = \"1500\"\nlabel = \"test line\"\n";
            std::fs::write(&gw.config_path, format!("{good}{extra}")).unwrap();
            // A reload encodes every prompt in four codecs again (about 1.5 s in a debug
            // build): the wait allows for a busy machine.
            assert!(gw.wait_for(|l| l.contains("config reloaded"), Duration::from_secs(15)), "{}", gw.log());
            assert_eq!(gw.events("ended").len(), 0, "no call in progress was touched");
            let new_uri = ruri(&gw, "1500");
            assert_all_ok(&sipp(&gw, &["-sf", sc, "-key", "ruri", &new_uri, "-m", "1"]), 1);
            h.join().unwrap()
        })
    };
    assert_all_ok(&load, 20);
    assert!(gw.wait_events("ended", 21, Duration::from_secs(5)), "{}", gw.log());
    let started = gw.events("started");
    assert_eq!(started.len(), 21);
    let version = |e: &serde_json::Value| e["fields"]["config_version"].as_str().unwrap().to_string();
    let first = version(&started[0]);
    assert!(started[..20].iter().all(|e| version(e) == first), "the 20 calls kept the version they started with");
    assert_ne!(version(&started[20]), first, "the new call records the new version");
    let ended = gw.events("ended");
    assert!(ended.iter().all(|e| e["fields"]["reason"] == "caller_hangup"), "{ended:?}");
}

#[test]
fn sipp_silent_caller_ends_in_general_and_is_never_hung_up_on() {
    let gw = Gateway::start();
    let sc = scenario("caller.xml");
    let uri = ruri(&gw, "112");
    // On the line 40 s without a sound or a key, then the caller hangs up: the menu
    // gives up at 20 s, the silent prompt plays (~5 s), 8 s for 5 5, then general.
    let run = sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-d", "40000", "-m", "1"]);
    assert_all_ok(&run, 1);
    let routed = gw.events("routed");
    assert_eq!(routed.len(), 1, "{}", gw.log());
    assert_eq!(routed[0]["fields"]["queue"], "general");
    assert!(routed[0]["fields"]["reason"].as_str().unwrap().contains("\"silent\""), "{routed:?}");
    let prompts: Vec<String> = gw.events("prompt").iter().map(|e| e["fields"]["prompt"].as_str().unwrap_or_default().to_string()).collect();
    assert!(prompts.iter().any(|p| p == "silent_prompt"), "the silent prompt was played: {prompts:?}");
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)), "{}", gw.log());
    let ended = gw.events("ended");
    assert_eq!(ended[0]["fields"]["reason"], "caller_hangup", "the gateway never hangs up on a silent caller");
}

/// Every key of the shared RFC 4733 recordings, and where the default menu sends it.
const KEYS: &[(&str, char, Option<&str>)] = &[
    ("1", '1', Some("medical")),
    ("2", '2', Some("fire")),
    ("3", '3', Some("public_order")),
    ("4", '4', Some("public_works")),
    ("5", '5', Some("social")),
    ("6", '6', Some("transport")),
    ("0", '0', Some("general")),
    ("9", '9', None),     // English menu
    ("7", '7', None),     // invalid choice, menu again
    ("8", '8', None),     // invalid choice
    ("star", '*', None),  // repeat
    ("pound", '#', None), // invalid choice
];

#[test]
fn sipp_rfc4733_digits_each_taken_once_and_menu_digits_reach_their_queue() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    let uri = ruri(&gw, "112");
    let runs: Vec<(String, crate::harness::Sipp)> = std::thread::scope(|s| {
        let handles: Vec<_> = KEYS
            .iter()
            .map(|(name, _, _)| {
                let pcap = crate::harness::corpora().join(format!("rtp/sipp_dtmf_2833_{name}.pcap"));
                assert!(pcap.exists(), "{}", pcap.display());
                let sc = dir.path().join(format!("dtmf_{name}.xml"));
                std::fs::write(&sc, template.replace("PCAP_FILE", pcap.to_str().unwrap())).unwrap();
                let (gw, uri) = (&gw, uri.clone());
                s.spawn(move || (name.to_string(), sipp(gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"])))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, run) in &runs {
        assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{name}: {}", run.stdout);
    }
    assert!(gw.wait_events("ended", KEYS.len(), Duration::from_secs(10)));
    // Map each call (by SIP Call-ID) to its digits and its queue.
    let call_of = |e: &serde_json::Value| e["span"]["sip_call_id"].as_str().unwrap_or_default().to_string();
    let digits = gw.events("digit");
    let routed = gw.events("routed");
    let mut seen = Vec::new();
    for call in gw.events("started").iter().map(call_of) {
        let keys: Vec<String> = digits.iter().filter(|d| call_of(d) == call).map(|d| d["fields"]["key"].as_str().unwrap().to_string()).collect();
        assert_eq!(keys.len(), 1, "exactly one digit per press in call {call}: {keys:?}");
        assert!(digits.iter().filter(|d| call_of(d) == call).all(|d| d["fields"]["source"] == "rfc4733"));
        let key = keys[0].chars().next().unwrap();
        let (_, _, queue) = KEYS.iter().find(|(_, k, _)| *k == key).unwrap();
        let q: Vec<&str> = routed.iter().filter(|r| call_of(r) == call).filter_map(|r| r["fields"]["queue"].as_str()).collect();
        match queue {
            Some(q0) => assert_eq!(q, vec![*q0], "key {key}"),
            None => assert!(q.is_empty(), "key {key} routes nowhere by itself: {q:?}"),
        }
        seen.push(key);
    }
    seen.sort();
    let mut want: Vec<char> = KEYS.iter().map(|(_, k, _)| *k).collect();
    want.sort();
    assert_eq!(seen, want, "12/12 keys taken");
}
