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

/// Click to call back (issue 16): a caller who hung up in the queue, and then again,
/// is called back. `cc112 callbacks call` rings op-budi's SIPp phone first; once it
/// answers, the gateway calls the number through the test trunk (a SIPp UAS on
/// 127.0.0.1 that echoes the RTP it hears) and bridges them. The operator talks (an
/// A-law recording), the number echoes it back (µ-law: transcoded both ways): the
/// bridge relays packets from each side to the other, which cannot happen unless
/// media flows both ways. The call back is a record of its own; the items close as
/// `reached`.
#[test]
fn an_operator_calls_an_abandoned_caller_back_through_the_trunk_and_they_hear_each_other() {
    let (gw, trunk_port, trunk_media) = gateway_with_trunk(";user=phone");
    // 081231 waits in medical and hangs up, then calls again and hangs up again.
    abandon(&gw, 1, "1500");
    abandon(&gw, 2, "800");
    let open = items(&gw, false);
    assert_eq!(open.len(), 2, "{open:?}");
    let id = open[0]["id"].as_str().unwrap().to_string();
    let reader = cc112::store::query::Reader::open(&gw.db).unwrap();
    let flags: Option<String> = reader.connection().query_row("SELECT flags FROM calls WHERE id = ?1", [open[1]["id"].as_str().unwrap()], |r| r.get(0)).unwrap();
    assert_eq!(flags.as_deref(), Some("callback"), "calling again while an item is open");

    // Nobody to call with yet: op-budi is not registered.
    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(!ok && out.contains("offline"), "{out}");

    let (op_port, op_media) = crate::operators::register_op_budi(&gw);
    let dir = tempfile::tempdir().unwrap();
    let talk = corpora().join("rtp/sipp_g711a.pcap");
    let op_sc = dir.path().join("op.xml");
    let text = std::fs::read_to_string(scenario("operator_hangs_up.xml")).unwrap().replace("TALK_FILE", talk.to_str().unwrap()).replace("<pause milliseconds=\"1200\"/>", "<pause milliseconds=\"3000\"/>")
        // The phone rings a second before it is picked up (the check of one call back per operator).
        .replacen("<send retrans=\"500\">", "<pause milliseconds=\"1000\"/>\n  <send retrans=\"500\">", 1);
    std::fs::write(&op_sc, text).unwrap();
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", op_sc.to_str().unwrap(), "-m", "1"]));
    let trace = dir.path().join("number.log");
    let trace_s = trace.to_str().unwrap().to_string();
    let number = std::thread::spawn(move || sipp_from(target, trunk_port, trunk_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo", "-trace_msg", "-message_file", &trace_s]));
    std::thread::sleep(Duration::from_millis(300));

    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(ok && out.contains("calling back"), "{out}\n{}", gw.log());
    let (ok, out) = callbacks(&gw, &["call", open[1]["id"].as_str().unwrap(), "--operator", "op-budi"]);
    assert!(!ok && out.contains("on_call"), "one call back per operator at a time: {out}");
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    let num = number.join().unwrap();
    assert_eq!((num.exit_code, num.failed), (Some(0), 0), "number: {}\n{}", num.stdout, gw.log());
    let invite = std::fs::read_to_string(&trace).unwrap();
    assert!(invite.contains(&format!("INVITE sip:081231@127.0.0.1:{trunk_port};user=phone SIP/2.0")), "{invite}");

    // Media crossed the bridge both ways.
    assert!(gw.wait_for(|l| l.contains("bridge closed"), Duration::from_secs(5)), "{}", gw.log());
    let line = gw.log().lines().find(|l| l.contains("bridge closed")).unwrap().to_string();
    let b: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (from_number, from_operator) = (b["fields"]["from_caller"].as_u64().unwrap(), b["fields"]["from_operator"].as_u64().unwrap());
    assert!(from_operator > 50 && from_number > 50, "{line}");
    assert!(b["fields"]["transcoded"].as_u64().unwrap() > 0, "A-law to µ-law: {line}");

    // The call back's own record, linked to the item; both items reached.
    assert!(gw.wait_events("ended", 3, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let row: (String, String, String, Option<String>, String) = reader
        .connection()
        .query_row("SELECT direction, callback_item, caller, operator, outcome FROM calls WHERE direction IS NOT NULL", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap();
    assert_eq!(row, ("callback".into(), id.clone(), "081231".into(), Some("op-budi".into()), "answered".into()));
    assert!(items(&gw, false).is_empty());
    let all = items(&gw, true);
    assert!(all.iter().all(|i| i["state"] == "reached"), "{all:?}");
    let called = all.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_eq!((called["attempts"].as_i64(), called["last_attempt"].as_str()), (Some(1), Some("answered")), "{called}");
    // op-budi is free again after the wrap-up.
    assert!(gw.wait_for(|l| l.contains("wrap_up"), Duration::from_secs(5)), "{}", gw.log());
}

/// The number behind the trunk is busy: the call back is over at once, its record
/// `failed` ("call back not answered"), the operator hung up on and free again at once
/// (no wrap-up for a call back that reached nobody), and the item open again with the
/// attempt counted.
#[test]
fn a_busy_number_leaves_the_item_open_with_the_attempt_counted_and_the_operator_free() {
    let One { gw, trunk: (trunk_port, trunk_media), id, op: (op_port, op_media), busy, _dir } = one_item();
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1"]));
    let number = std::thread::spawn(move || sipp_from(target, trunk_port, trunk_media, &["-sf", busy.to_str().unwrap(), "-m", "1"]));
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(ok, "{out}");
    let num = number.join().unwrap();
    assert_eq!((num.exit_code, num.failed), (Some(0), 0), "number: {}\n{}", num.stdout, gw.log());
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator hung up on: {}\n{}", op.stdout, gw.log());
    assert!(gw.wait_events("ended", 2, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let open = items(&gw, false);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0]["state"].as_str(), open[0]["attempts"].as_i64(), open[0]["last_attempt"].as_str()), (Some("open"), Some(1), Some("busy")), "{}", open[0]);
    let reader = cc112::store::query::Reader::open(&gw.db).unwrap();
    let (outcome, reason): (String, String) = reader.connection().query_row("SELECT outcome, end_reason FROM calls WHERE direction = 'callback'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((outcome.as_str(), reason.as_str()), ("failed", "call back not answered"));
    // op-budi is available at once: a second call back rings them again.
    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(ok && out.contains("calling back"), "{out}");
}

/// A gateway whose `[callbacks] trunk` is a SIPp UAS on 127.0.0.1 (its SIP and media
/// ports returned); `params` follow the URI's host.
fn gateway_with_trunk(params: &str) -> (Gateway, u16, u16) {
    let (trunk_port, trunk_media) = (free_ports(1), free_ports(4));
    let trunk = format!("[callbacks]\ntrunk = \"sip:{{number}}@127.0.0.1:{trunk_port}{params}\"\nring_timeout = \"10s\"\n");
    (crate::operators::gateway_with_operators_and(r#"["MD5", "SHA-256"]"#, &trunk), trunk_port, trunk_media)
}

/// 081231 (SIPp's first caller) waits in medical `wait_ms` and hangs up: the `n`-th call.
fn abandon(gw: &Gateway, n: usize, wait_ms: &str) {
    let uri = format!("sip:118@{}", gw.sip);
    let run = sipp(gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", wait_ms, "-m", "1"]);
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{}", run.stdout);
    assert!(gw.wait_events("ended", n, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
}

/// A gateway with a trunk, one open item (081231 hung up in medical), op-budi
/// registered, and a busy SIPp UAS scenario written.
struct One {
    gw: Gateway,
    trunk: (u16, u16),
    id: String,
    op: (u16, u16),
    busy: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn one_item() -> One {
    let (gw, trunk_port, trunk_media) = gateway_with_trunk("");
    abandon(&gw, 1, "800");
    let id = items(&gw, false)[0]["id"].as_str().unwrap().to_string();
    let op = crate::operators::register_op_budi(&gw);
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("busy.xml");
    std::fs::write(&busy, BUSY_UAS).unwrap();
    One { gw, trunk: (trunk_port, trunk_media), id, op, busy, _dir: dir }
}

/// The operator's phone refuses (486): the number is never called, the item stays open
/// with the attempt counted, and the operator is available again at once.
#[test]
fn an_operator_who_does_not_take_the_call_back_is_free_again_and_the_number_is_not_called() {
    let One { gw, id, op: (op_port, op_media), busy, _dir, .. } = one_item();
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", busy.to_str().unwrap(), "-m", "1"]));
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(ok, "{out}");
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    assert!(gw.wait_events("ended", 2, Duration::from_secs(5)), "{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    let open = items(&gw, false);
    assert_eq!((open[0]["state"].as_str(), open[0]["attempts"].as_i64(), open[0]["last_attempt"].as_str()), (Some("open"), Some(1), Some("operator did not answer")), "{}", open[0]);
    assert!(!gw.log().contains("calling the number"), "{}", gw.log());
    let (ok, out) = callbacks(&gw, &["call", &id, "--operator", "op-budi"]);
    assert!(ok && out.contains("calling back"), "available again at once: {out}");
}

/// A number that is busy: 486 to the INVITE (SIPp as UAS; the ACK is the transaction's).
const BUSY_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="busy number">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]B[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"#;
