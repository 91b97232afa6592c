//! Operators: SIPp softphones register with Digest and answer calls the ACD offers them;
//! the caller is bridged to them through the gateway.

use std::time::Duration;

use crate::harness::{corpora, free_ports, reserve_ports, scenario, sipp_from, Gateway};

/// A gateway whose config has the operators of fixtures/config/valid_operators.toml
/// (op-budi serves medical and general; password "secret-op-budi").
pub(crate) fn gateway_with_operators() -> Gateway {
    // SIPp computes only MD5 and reads only the first challenge: offer MD5 first.
    gateway_with_operators_offering(r#"["MD5", "SHA-256"]"#)
}

/// The same, offering these Digest algorithms (a TOML array) in this order.
pub(crate) fn gateway_with_operators_offering(algorithms: &str) -> Gateway {
    let port = free_ports(1);
    let media = reserve_ports(402);
    let media = media + media % 2;
    let ops = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/config/valid_operators.toml"))
        .unwrap()
        .replace("[registrar]\n", &format!("[registrar]\nalgorithms = {algorithms}\n"));
    let toml = format!(
        "[sip]\nlisten_udp = [\"127.0.0.1:{port}\"]\nlisten_tcp = [\"127.0.0.1:{port}\"]\n[media]\naddress = \"127.0.0.1\"\nport_min = {media}\nport_max = {}\n{ops}",
        media + 399
    );
    Gateway::start_config(&toml, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

/// op-budi's SIPp softphone registers; returns its SIP and media ports (it answers on the
/// port it registered from).
pub(crate) fn register_op_budi(gw: &Gateway) -> (u16, u16) {
    let op_port = free_ports(1);
    let op_media = free_ports(4);
    let reg = sipp_from(
        gw.sip,
        op_port,
        op_media,
        &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", "op-budi", "-au", "op-budi", "-ap", "secret-op-budi", "-m", "1"],
    );
    assert_eq!((reg.exit_code, reg.failed), (Some(0), 0), "register: {}", reg.stdout);
    assert!(gw.wait_events("operator", 1, Duration::from_secs(5)) || gw.log().contains("operator registered"), "{}", gw.log());
    (op_port, op_media)
}

#[test]
fn a_caller_pressing_1_is_bridged_to_the_registered_medical_operator() {
    let gw = gateway_with_operators();
    let (op_port, op_media) = register_op_budi(&gw);
    let target = gw.sip;
    let operator = std::thread::spawn(move || {
        sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo"])
    });
    std::thread::sleep(Duration::from_millis(300));
    // The caller presses 1 (medical) and stays 2.5 s, then hangs up.
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    let sc = dir.path().join("press1.xml");
    // The caller speaks A-law only and talks (a G.711 A-law recording) once bridged; the
    // operator answers in µ-law: the gateway transcodes both ways.
    let talk = format!(
        "<pause milliseconds=\"800\"/>\n  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"2500\"/>",
        corpora().join("rtp/sipp_g711a.pcap").display()
    );
    let text = template
        .replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap())
        .replace("RTP/AVP 0 8 101", "RTP/AVP 8 101")
        .replace("      a=rtpmap:0 PCMU/8000\n", "")
        .replacen("<pause milliseconds=\"2500\"/>", &talk, 1);
    std::fs::write(&sc, text).unwrap();
    let uri = format!("sip:112@{}", gw.sip);
    let caller = crate::harness::sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]);
    assert_eq!((caller.exit_code, caller.failed), (Some(0), 0), "caller: {}", caller.stdout);
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)));
    for ev in ["queued", "offered", "operator_ringing", "operator_answered"] {
        assert_eq!(gw.events(ev).len(), 1, "{ev}: {}", gw.log());
    }
    assert_eq!(gw.events("operator_answered")[0]["fields"]["operator"], "op-budi");
    // The record says who answered, and that the call was answered.
    std::thread::sleep(Duration::from_millis(300));
    let reader = cc112::store::query::Reader::open(&gw.db).unwrap();
    let rows = reader.list_calls(&Default::default()).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.operator.as_deref(), Some("op-budi"));
    assert_eq!(r.department.as_deref(), Some("medical"));
    assert_eq!(r.outcome.map(|o| o.as_str()), Some("answered"));
    assert!(r.operator_answered_at.is_some());
    // Media crossed the bridge both ways (the operator echoes what it hears), transcoded
    // between the caller's PCMU and the operator's PCMA.
    assert!(gw.wait_for(|l| l.contains("bridge closed"), Duration::from_secs(5)), "{}", gw.log());
    let line = gw.log().lines().find(|l| l.contains("bridge closed")).unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["fields"]["from_caller"].as_u64().unwrap() > 0, "{line}");
    assert!(v["fields"]["from_operator"].as_u64().unwrap() > 0, "{line}");
    assert!(v["fields"]["transcoded"].as_u64().unwrap() > 0, "{line}");
    eprintln!("{line}");
}

/// A REGISTER for `user` from `sock`, with an optional Authorization.
pub(crate) fn register_over(sock: &std::net::UdpSocket, gw: std::net::SocketAddr, user: &str, n: u32, auth: Option<String>) -> Option<String> {
    let local = sock.local_addr().unwrap();
    let msg = format!(
        "REGISTER sip:{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbf{n}{}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{gw}>;tag=bf{n}\r\nTo: <sip:{user}@{gw}>\r\nCall-ID: bf-{user}-{}\r\nCSeq: {n} REGISTER\r\nContact: <sip:{user}@{local}>\r\n{}Content-Length: 0\r\n\r\n",
        local.port(),
        local.ip(),
        auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default()
    );
    sock.send_to(msg.as_bytes(), gw).unwrap();
    let mut buf = [0u8; 4096];
    sock.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A Digest answer (MD5, qop=auth) to the MD5 challenge of a 401.
pub(crate) fn answer_401(resp: &str, user: &str, password: &str, gw: std::net::SocketAddr) -> String {
    use cc112::sip::digest::{self, Algorithm, Credentials};
    let line = resp.lines().find(|l| l.starts_with("WWW-Authenticate:") && l.contains("MD5")).expect("MD5 challenge");
    let nonce = line.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let uri = format!("sip:{gw}");
    let c = Credentials {
        username: user.into(),
        realm: "cc112".into(),
        nonce: nonce.clone(),
        uri: uri.clone(),
        response: String::new(),
        algorithm: Algorithm::Md5,
        cnonce: "deadbeef".into(),
        nc_text: "00000001".into(),
        nc: 1,
        opaque: None,
    };
    let response = digest::expected_response(&c, "REGISTER", &digest::ha1(Algorithm::Md5, user, "cc112", password));
    format!("Digest username=\"{user}\", realm=\"cc112\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"deadbeef\"")
}

/// Remove what legitimately differs between two answers: nonces, tags, Call-ID, branch.
fn normalise(resp: &str) -> String {
    resp.lines()
        .map(|l| {
            let l = match l.split_once("nonce=\"") {
                Some((a, b)) => format!("{a}nonce=\"N\"{}", b.split_once('"').map(|(_, r)| r).unwrap_or_default()),
                None => l.to_string(),
            };
            let l = match l.split_once(";tag=") {
                Some((a, _)) => format!("{a};tag=T"),
                None => l,
            };
            if l.starts_with("Via:") || l.starts_with("Call-ID:") || l.starts_with("From:") || l.starts_with("To:") || l.starts_with("CSeq:") { String::new() } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn brute_force_is_cut_off_per_address_and_answers_do_not_tell_users_apart() {
    let gw = gateway_with_operators();
    // Unknown user and wrong password: the same answer apart from nonce and tags.
    let probe = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let c = register_over(&probe, gw.sip, "op-budi", 1, None).unwrap();
    let wrong = register_over(&probe, gw.sip, "op-budi", 2, Some(answer_401(&c, "op-budi", "guess", gw.sip))).unwrap();
    let c = register_over(&probe, gw.sip, "nobody", 3, None).unwrap();
    let unknown = register_over(&probe, gw.sip, "nobody", 4, Some(answer_401(&c, "nobody", "guess", gw.sip))).unwrap();
    assert!(wrong.starts_with("SIP/2.0 401"), "{wrong}");
    assert_eq!(normalise(&wrong), normalise(&unknown), "\n{wrong}\n---\n{unknown}");
    // A guessing loop from 127.0.0.2: answered until the limit, then silence.
    let attacker = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    attacker.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut answered = 0;
    for n in 0..20u32 {
        let Some(c) = register_over(&attacker, gw.sip, "op-budi", 100 + 2 * n, None) else { break };
        if register_over(&attacker, gw.sip, "op-budi", 101 + 2 * n, Some(answer_401(&c, "op-budi", &format!("guess{n}"), gw.sip))).is_some() {
            answered += 1;
        }
    }
    assert_eq!(answered, 3, "cut off after the limit (failed_attempts = 3 in valid_operators.toml)");
    // The real operator still registers from another address.
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let c = register_over(&phone, gw.sip, "op-budi", 500, None).unwrap();
    let ok = register_over(&phone, gw.sip, "op-budi", 501, Some(answer_401(&c, "op-budi", "secret-op-budi", gw.sip))).unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

#[test]
fn a_supervisor_lists_pauses_and_resumes_operators_of_the_running_gateway() {
    let gw = gateway_with_operators();
    let port = free_ports(1);
    let reg = sipp_from(
        gw.sip,
        port,
        free_ports(4),
        &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", "op-budi", "-au", "op-budi", "-ap", "secret-op-budi", "-m", "1"],
    );
    assert_eq!(reg.exit_code, Some(0), "{}", reg.stdout);
    let socket = gw.db.with_extension("sock");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cc112")).args(args).arg("--socket").arg(&socket).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    type Cli<'a> = &'a dyn Fn(&[&str]) -> (bool, String, String);
    let list = |cli: Cli| -> Vec<serde_json::Value> {
        let (ok, out, err) = cli(&["operators", "list", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let find = |ops: &[serde_json::Value], id: &str| ops.iter().find(|o| o["id"] == id).cloned().unwrap();
    let ops = list(&cli);
    assert_eq!(ops.len(), 3, "every configured operator is listed");
    let budi = find(&ops, "op-budi");
    assert_eq!((budi["registered"].as_bool(), budi["state"].as_str()), (Some(true), Some("available")), "{budi}");
    assert_eq!(find(&ops, "op-sari")["state"], "offline");
    let (ok, out, _) = cli(&["operators", "pause", "op-budi", "--reason", "istirahat"]);
    assert!(ok && out.contains("paused"), "{out}");
    let budi = find(&list(&cli), "op-budi");
    assert_eq!((budi["state"].as_str(), budi["reason"].as_str()), (Some("paused"), Some("istirahat")));
    let (ok, out, _) = cli(&["operators", "resume", "op-budi"]);
    assert!(ok && out.contains("available"), "{out}");
    let (ok, _, err) = cli(&["operators", "pause", "op-nobody"]);
    assert!(!ok && err.contains("op-nobody"), "{err}");
    // The pause is in the operator history of the records.
    std::thread::sleep(Duration::from_millis(300));
    let reader = cc112::store::query::Reader::open(&gw.db).unwrap();
    let hist = reader.operator_events(Default::default()).unwrap();
    assert!(hist.iter().any(|e| e.operator == "op-budi" && e.kind.as_str() == "login"), "{hist:?}");
    assert!(hist.iter().any(|e| e.operator == "op-budi" && e.kind.as_str() == "pause" && e.reason.as_deref().is_some_and(|r| r.contains("istirahat"))), "{hist:?}");
}

/// Three operators, one department each (medical, fire, public order), passwords
/// "pw-<id>", MD5 offered first (SIPp), no wrap-up so the test is quick.
fn gateway_with_three_departments() -> Gateway {
    let port = free_ports(1);
    let media = reserve_ports(402);
    let media = media + media % 2;
    let mut ops = String::new();
    for (id, dept) in [("op-med", "medical"), ("op-fire", "fire"), ("op-pub", "public_order")] {
        let (md5, _) = cc112::config::operator_hash(id, "cc112", &format!("pw-{id}"));
        ops += &format!("[[operators]]\nid = \"{id}\"\nname = \"{id}\"\ndepartments = [\"{dept}\"]\nha1_md5 = \"{md5}\"\n");
    }
    let toml = format!(
        "[sip]\nlisten_udp = [\"127.0.0.1:{port}\"]\nlisten_tcp = [\"127.0.0.1:{port}\"]\n[media]\naddress = \"127.0.0.1\"\nport_min = {media}\nport_max = {}\n[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n[acd]\nwrap_up = \"0s\"\n{ops}",
        media + 399
    );
    Gateway::start_config(&toml, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn a_hundred_callers_reach_an_operator_of_their_department_and_the_records_agree() {
    let _load = crate::harness::heavy();
    let gw = gateway_with_three_departments();
    let dir = tempfile::tempdir().unwrap();
    let since = cc112::store::UtcMs(cc112::store::UtcMs::now().0 - 60_000).rfc3339(cc112::config::UtcOffset::WIB);
    // 100 callers: 34 press 1 (medical), 33 press 2 (fire), 33 press 3 (public order).
    let plan = [("op-med", "1", 34u32), ("op-fire", "2", 33), ("op-pub", "3", 33)];
    let mut operators = Vec::new();
    for (id, _, calls) in plan {
        let (port, media) = (free_ports(1), free_ports(4));
        let pw = format!("pw-{id}");
        let reg = sipp_from(gw.sip, port, media, &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", id, "-au", id, "-ap", &pw, "-m", "1"]);
        assert_eq!(reg.exit_code, Some(0), "{id}: {}", reg.stdout);
        let target = gw.sip;
        let sc = dir.path().join(format!("{id}.xml"));
        let talk = corpora().join("rtp/sipp_g711a.pcap");
        std::fs::write(&sc, std::fs::read_to_string(scenario("operator_hangs_up.xml")).unwrap().replace("TALK_FILE", talk.to_str().unwrap())).unwrap();
        let errors = dir.path().join(format!("{id}-errors.log"));
        operators.push((id, std::thread::spawn(move || {
            sipp_from(target, port, media, &["-sf", sc.to_str().unwrap(), "-m", &calls.to_string(), "-trace_err", "-error_file", errors.to_str().unwrap()])
        })));
    }
    std::thread::sleep(Duration::from_millis(300));
    let template = std::fs::read_to_string(scenario("caller_until_bye.xml")).unwrap();
    let uri = format!("sip:112@{}", gw.sip);
    let callers: Vec<_> = plan
        .iter()
        .map(|(_, key, calls)| {
            let sc = dir.path().join(format!("caller{key}.xml"));
            let pcap = corpora().join(format!("rtp/sipp_dtmf_2833_{key}.pcap"));
            std::fs::write(&sc, template.replace("PCAP_FILE", pcap.to_str().unwrap())).unwrap();
            let (target, uri, calls) = (gw.sip, uri.clone(), *calls);
            std::thread::spawn(move || {
                crate::harness::sipp_to(target, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", &calls.to_string(), "-r", "5", "-l", "50", "-rtp_echo"])
            })
        })
        .collect();
    // Meanwhile 6 callers hang up during the greeting, and 4 press 5 (social services,
    // which no operator serves here) and hang up after waiting in the queue.
    let ivr_quitters = crate::harness::sipp(&gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", "400", "-m", "6", "-r", "10"]);
    assert_eq!((ivr_quitters.exit_code, ivr_quitters.failed), (Some(0), 0), "{}", ivr_quitters.stdout);
    let social = dir.path().join("press5.xml");
    let dtmf = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    std::fs::write(&social, dtmf.replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_5.pcap").to_str().unwrap())).unwrap();
    let queue_quitters = crate::harness::sipp(&gw, &["-sf", social.to_str().unwrap(), "-key", "ruri", &uri, "-m", "4", "-r", "10"]);
    assert_eq!((queue_quitters.exit_code, queue_quitters.failed), (Some(0), 0), "{}", queue_quitters.stdout);
    let callers: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    let operators: Vec<_> = operators.into_iter().map(|(id, h)| (id, h.join().unwrap())).collect();
    if callers.iter().any(|r| r.exit_code != Some(0)) {
        for (id, r) in &operators {
            let errors = std::fs::read_to_string(dir.path().join(format!("{id}-errors.log"))).unwrap_or_default();
            eprintln!("operator {id}: exit {:?}\n{}\n{}\nunexpected messages:\n{errors}", r.exit_code, r.stdout, r.stderr);
        }
        let _ = std::fs::write(std::env::temp_dir().join("cc112-hundred-failure.log"), gw.log());
    }
    for (i, run) in callers.into_iter().enumerate() {
        assert_eq!((run.exit_code, run.successful, run.failed), (Some(0), plan[i].2 as u64, 0), "callers pressing {}: {}", plan[i].1, run.stdout);
    }
    for (id, run) in operators {
        assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{id}: {}", run.stdout);
    }
    assert!(gw.wait_events("ended", 110, Duration::from_secs(10)));
    // Every caller reached an operator of the department they chose.
    let answered = gw.events("operator_answered");
    assert_eq!(answered.len(), 100);
    let routed = gw.events("routed");
    let call_of = |e: &serde_json::Value| e["span"]["call"].as_str().unwrap_or_default().to_string();
    for a in &answered {
        let queue = routed.iter().find(|r| call_of(r) == call_of(a)).map(|r| r["fields"]["queue"].as_str().unwrap().to_string()).unwrap();
        let op = a["fields"]["operator"].as_str().unwrap();
        let want = match queue.as_str() {
            "medical" => "op-med",
            "fire" => "op-fire",
            _ => "op-pub",
        };
        assert_eq!(op, want, "a {queue} call went to {op}");
    }
    // Media crossed every bridge both ways.
    let bridges: Vec<serde_json::Value> = gw.log().lines().filter(|l| l.contains("bridge closed")).filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(bridges.len(), 100);
    for b in &bridges {
        assert!(b["fields"]["from_caller"].as_u64().unwrap() > 0 && b["fields"]["from_operator"].as_u64().unwrap() > 0, "{b}");
    }
    // What the shift sees: 110 rows; department, operator and outcome right.
    std::thread::sleep(Duration::from_millis(500));
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cc112"))
            .args(args)
            .args(["--db", gw.db.to_str().unwrap(), "--config", gw.config_path.to_str().unwrap(), "--since", &since])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rows: Vec<serde_json::Value> = cli(&["calls", "list", "--json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 110);
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| rows.iter().filter(|r| f(r)).count();
    for (op, dept, n) in [("op-med", "medical", 34), ("op-fire", "fire", 33), ("op-pub", "public_order", 33)] {
        assert_eq!(count(&|r| r["outcome"] == "answered" && r["operator"] == op && r["department"] == dept && r["operator_answered_at"].is_string()), n, "{op}");
    }
    assert_eq!(count(&|r| r["outcome"] == "abandoned_ivr" && r["department"].is_null()), 6);
    assert_eq!(count(&|r| r["outcome"] == "abandoned_queue" && r["department"] == "social"), 4);
    assert_eq!(count(&|r| r["outcome"] == "answered" && r["hangup_by"] == "operator"), 100);
    // The report's totals agree with the rows.
    let report: serde_json::Value = serde_json::from_str(&cli(&["report", "--json"])).unwrap();
    let text = report.to_string();
    assert_eq!(report["total"].as_u64().or_else(|| report["calls"].as_u64()), Some(110), "{text}");
    assert_eq!(report["abandoned_in_queue"].as_u64().or_else(|| report["abandoned_queue"].as_u64()), Some(4), "{text}");
    assert_eq!(report["abandoned_in_ivr"].as_u64().or_else(|| report["abandoned_ivr"].as_u64()), Some(6), "{text}");
    eprintln!("{}", cli(&["report"]));
}

/// Issue 13, point 1: a caller whose From user part unescapes to line breaks
/// (`0812%0D%0AX-Injected:%20yes...`) is offered and bridged like any other, and the
/// operator's phone gets exactly one `X-CC112-Caller` header and no header of the
/// caller's making.
#[test]
fn a_caller_id_with_line_breaks_reaches_the_operator_with_no_injected_header() {
    let gw = gateway_with_operators();
    let (op_port, op_media) = register_op_budi(&gw);
    let dir = tempfile::tempdir().unwrap();
    let op_trace = dir.path().join("operator_messages.log");
    let target = gw.sip;
    let op_trace_s = op_trace.to_str().unwrap().to_string();
    let operator = std::thread::spawn(move || {
        sipp_from(
            target,
            op_port,
            op_media,
            &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo", "-trace_msg", "-message_file", &op_trace_s],
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    // 118 goes straight to medical; the From user part is the attack.
    let text = std::fs::read_to_string(scenario("caller_dtmf.xml"))
        .unwrap()
        .replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap())
        .replace("<sip:08123[call_number]@", "<sip:0812%0D%0AX-Injected:%20yes%0D%0AX-CC112-Department:%20fake@");
    let sc = dir.path().join("injector.xml");
    std::fs::write(&sc, text).unwrap();
    let uri = format!("sip:118@{}", gw.sip);
    let caller = crate::harness::sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]);
    assert_eq!((caller.exit_code, caller.failed), (Some(0), 0), "caller: {}", caller.stdout);
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    assert!(gw.wait_events("operator_answered", 1, Duration::from_secs(5)), "{}", gw.log());
    let trace = std::fs::read_to_string(&op_trace).unwrap();
    let invite = trace.split("INVITE sip:").nth(1).expect("the operator received an INVITE");
    let head = invite.split("\r\n\r\n").next().unwrap_or_default();
    let lines: Vec<&str> = head.lines().map(str::trim).collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("X-CC112-Caller:")).count(), 1, "{head}");
    assert!(!lines.iter().any(|l| l.starts_with("X-Injected")), "{head}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("X-CC112-Department:")).count(), 1, "{head}");
    assert!(lines.contains(&"X-CC112-Department: medical"), "{head}");
    // The log stays one line per event, and so does `cc112 calls list` on a terminal.
    assert!(!gw.log().lines().any(|l| l.starts_with("X-Injected")), "{}", gw.log());
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(300));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cc112"))
        .args(["calls", "list", "--db", gw.db.to_str().unwrap(), "--config", gw.config_path.to_str().unwrap()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert_eq!(table.lines().count(), 3, "a header, one line for the one call, the count:\n{table}");
    assert!(table.contains(r"0812\r\nX-Injec"), "the number shown as written, escaped:\n{table}");
    assert!(!table.chars().any(|c| c.is_control() && c != '\n'), "{table}");
}

/// Issue 13, point 5: the control socket is the supervisor's door, guarded by the file
/// system alone. It appears at its path already owner-only (it is made in a private
/// directory and renamed into place), and nothing of the making is left behind.
#[test]
fn the_control_socket_is_owner_only_from_the_moment_it_appears() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let gw = gateway_with_operators();
    assert!(gw.wait_for(|l| l.contains("supervisor control socket"), Duration::from_secs(5)), "{}", gw.log());
    let path = cc112::runtime::control::socket_path(&gw.db);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = gw.db.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with(".cc112-control")).collect();
    assert!(left.is_empty(), "{left:?}");
    let reply = cc112::runtime::control::send(&path, &cc112::engine::control::Command::ListOperators).unwrap();
    assert!(matches!(reply, cc112::engine::control::Reply::Operators { .. }));
}

/// A 200 OK for an INVITE received as text, from a phone at `at` (its Contact and SDP).
fn ok_for(invite: &str, tag: &str, at: std::net::SocketAddr) -> String {
    let header = |name: &str| {
        invite.lines().filter(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase()))).map(str::to_string).collect::<Vec<_>>()
    };
    let sdp = format!("v=0\r\no=op 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n", ip = at.ip(), port = at.port() + 1000);
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for v in header("Via") {
        out += &format!("{v}\r\n");
    }
    for name in ["From", "Call-ID", "CSeq"] {
        out += &format!("{}\r\n", header(name).first().unwrap());
    }
    out += &format!("{};tag={tag}\r\n", header("To").first().unwrap());
    out += &format!("Contact: <sip:op@{at}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    out
}

/// The next request with this method that reaches `sock` (others are skipped).
pub(crate) fn recv_request(sock: &std::net::UdpSocket, method: &str) -> String {
    let mut buf = [0u8; 8192];
    loop {
        let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("no {method}: {e}"));
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if m.starts_with(&format!("{method} ")) {
            return m;
        }
    }
}

/// Issue 13, point 3: a response to our INVITE counts only from where the INVITE went.
/// While op-budi's phone rings, a forger at 127.0.0.3 who knows the INVITE (branch,
/// tags, Call-ID) answers 200 first: nothing is bridged to it, nothing is sent to it; the
/// phone's own 200 then bridges the caller to op-budi.
#[test]
fn a_forged_200_from_another_address_does_not_bridge_the_caller() {
    let gw = gateway_with_operators();
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let c = register_over(&phone, gw.sip, "op-budi", 1, None).unwrap();
    let ok = register_over(&phone, gw.sip, "op-budi", 2, Some(answer_401(&c, "op-budi", "secret-op-budi", gw.sip))).unwrap();
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let text = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap().replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("caller.xml");
    std::fs::write(&sc, text).unwrap();
    let target = gw.sip;
    let sc_s = sc.to_str().unwrap().to_string();
    let caller = std::thread::spawn(move || {
        let uri = format!("sip:118@{target}");
        crate::harness::sipp_to(target, &["-sf", &sc_s, "-key", "ruri", &uri, "-m", "1"])
    });
    // The phone rings.
    phone.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 8192];
    let invite = recv_request(&phone, "INVITE");
    // The forger answers first, from another address.
    let forger = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    forger.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let forged = ok_for(&invite, "forged", forger.local_addr().unwrap());
    forger.send_to(forged.as_bytes(), gw.sip).unwrap();
    assert!(forger.recv(&mut buf).is_err(), "nothing is sent to the forger (no ACK)");
    assert!(gw.events("operator_answered").is_empty(), "not bridged to the forger: {}", gw.log());
    // The phone's own answer bridges.
    phone.send_to(ok_for(&invite, "phone", phone.local_addr().unwrap()).as_bytes(), gw.sip).unwrap();
    assert!(gw.wait_events("operator_answered", 1, Duration::from_secs(5)), "{}", gw.log());
    phone.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let ack = recv_request(&phone, "ACK");
    assert!(ack.contains("tag=phone"), "{ack}");
    // The caller hangs up; the phone's leg gets our BYE, answered.
    phone.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let bye = recv_request(&phone, "BYE");
    let header = |name: &str| bye.lines().filter(|l| l.starts_with(name)).map(|l| format!("{l}\r\n")).collect::<String>();
    let ok = format!("SIP/2.0 200 OK\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n", header("Via:"), header("From:"), header("To:"), header("Call-ID:"), header("CSeq:"));
    phone.send_to(ok.as_bytes(), gw.sip).unwrap();
    let run = caller.join().unwrap();
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "caller: {}", run.stdout);
}
