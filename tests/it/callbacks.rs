//! Repeat callers and the callback worklist (issue 16) against the real gateway: a
//! caller who hangs up in the queue becomes a callback item (`cc112 callbacks`); when
//! the same number calls again, the operator's phone is told (`X-CC112-Flags: callback`,
//! `X-CC112-History` as the store has it) and the item closes as `reached` once an
//! operator answers; an operator claims and closes items from the command line.

use std::process::Command;
use std::time::Duration;

use crate::harness::{corpora, free_ports, scenario, sipp, sipp_from, Gateway};
use crate::operators::gateway_with_operators;

fn callbacks(gw: &Gateway, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cc112"))
        .arg("callbacks")
        .args(args)
        .args(["--db", gw.db.to_str().unwrap(), "--config", gw.config_path.to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn items(gw: &Gateway, all: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["list", "--json"];
    if all {
        args.push("--all");
    }
    let (ok, out) = callbacks(gw, &args);
    assert!(ok, "{out}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn an_abandoned_caller_is_called_back_or_calls_back_flagged_with_their_history() {
    let gw = gateway_with_operators();
    let uri = format!("sip:118@{}", gw.sip);
    // No operator is registered: the caller waits in medical 2 s and hangs up.
    let first = sipp(&gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", "2000", "-m", "1"]);
    assert_eq!((first.exit_code, first.failed), (Some(0), 0), "{}", first.stdout);
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let open = items(&gw, false);
    assert_eq!(open.len(), 1, "{open:?}");
    let item = &open[0];
    assert_eq!((item["caller"].as_str(), item["department"].as_str(), item["outcome"].as_str(), item["state"].as_str()), (Some("081231"), Some("medical"), Some("abandoned_queue"), Some("open")));
    assert!(item["waited_ms"].as_i64().unwrap() >= 1_500, "{item}");
    let (ok, table) = callbacks(&gw, &["list"]);
    assert!(ok && table.contains("081231") && table.contains("1 item(s)"), "{table}");

    // op-budi registers and answers, tracing what its phone receives.
    let op_port = free_ports(1);
    let op_media = free_ports(4);
    let reg = sipp_from(gw.sip, op_port, op_media, &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", "op-budi", "-au", "op-budi", "-ap", "secret-op-budi", "-m", "1"]);
    assert_eq!((reg.exit_code, reg.failed), (Some(0), 0), "register: {}", reg.stdout);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("op.log");
    let trace_s = trace.to_str().unwrap().to_string();
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo", "-trace_msg", "-message_file", &trace_s]));
    std::thread::sleep(Duration::from_millis(300));
    // The same number calls again (SIPp's first call is 081231 again).
    let text = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap().replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap());
    let sc = dir.path().join("again.xml");
    std::fs::write(&sc, text).unwrap();
    let again = sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]);
    assert_eq!((again.exit_code, again.failed), (Some(0), 0), "{}", again.stdout);
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    let invite = std::fs::read_to_string(&trace).unwrap();
    let head = invite.split("INVITE sip:").nth(1).expect("an INVITE").split("\r\n\r\n").next().unwrap_or_default().to_string();
    assert!(head.contains("X-CC112-Flags: callback"), "{head}");
    // The history matches the store: one earlier call, abandoned in medical, minutes ago.
    assert!(head.contains("X-CC112-History: 24h=1;7d=1;last=abandoned_queue,medical,0m"), "{head}");
    assert!(gw.wait_events("ended", 2, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let reader = cc112::store::query::Reader::open(&gw.db).unwrap();
    let rows = reader.list_calls(&Default::default()).unwrap();
    assert_eq!(rows.len(), 2);
    let flags: Option<String> = reader.connection().query_row("SELECT flags FROM calls WHERE id = ?1", [&rows[1].id], |r| r.get(0)).unwrap();
    assert_eq!(flags.as_deref(), Some("callback"));
    // Reaching an operator closed the item.
    assert!(items(&gw, false).is_empty());
    let all = items(&gw, true);
    assert_eq!(all[0]["state"], "reached", "{all:?}");
}

#[test]
fn an_operator_claims_and_closes_an_item_from_the_command_line() {
    let gw = gateway_with_operators();
    let uri = format!("sip:118@{}", gw.sip);
    let run = sipp(&gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", "500", "-m", "1"]);
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{}", run.stdout);
    assert!(gw.wait_events("ended", 1, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let id = items(&gw, false)[0]["id"].as_str().unwrap().to_string();
    let (ok, out) = callbacks(&gw, &["claim", &id, "--operator", "op-budi"]);
    assert!(ok && out.contains("claimed"), "{out}");
    let (ok, out) = callbacks(&gw, &["claim", &id, "--operator", "op-sari"]);
    assert!(!ok && out.contains("claimed by op-budi"), "{out}");
    let (ok, out) = callbacks(&gw, &["done", &id, "--note", "called back: a mistaken call"]);
    assert!(ok && out.contains("done"), "{out}");
    assert!(items(&gw, false).is_empty());
    assert_eq!(items(&gw, true)[0]["note"], "called back: a mistaken call");
}
