//! Call records of the real gateway: what the shift sees through the CLI, and what
//! survives a `kill -9`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use cc112::config::UtcOffset;
use cc112::store::query::Reader;
use cc112::store::UtcMs;

use crate::harness::{corpora, scenario, sipp, sipp_to, Gateway};

fn cc112(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(args).output().expect("run cc112");
    assert!(out.status.success(), "cc112 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cc112 calls list --json` since `since`, parsed.
pub(crate) fn list(gw: &Gateway, since: &str) -> Vec<serde_json::Value> {
    let db = gw.db.to_str().unwrap();
    let cfg = gw.config_path.to_str().unwrap();
    cc112(&["calls", "list", "--json", "--db", db, "--config", cfg, "--since", since])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// `cc112 report --json` since `since`, parsed.
pub(crate) fn report_json(gw: &Gateway, since: &str) -> serde_json::Value {
    let db = gw.db.to_str().unwrap();
    let cfg = gw.config_path.to_str().unwrap();
    serde_json::from_str(&cc112(&["report", "--json", "--db", db, "--config", cfg, "--since", since])).expect("report JSON")
}

#[test]
fn records_show_department_and_outcome_and_the_report_agrees() {
    let gw = Gateway::start();
    let since = UtcMs(UtcMs::now().0 - 60_000).rfc3339(UtcOffset::WIB);
    let uri = format!("sip:112@{}", gw.sip);
    // 6 callers press 1 (medical) then hang up in the queue; 4 hang up during the greeting.
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    let pcap = corpora().join("rtp/sipp_dtmf_2833_1.pcap");
    let sc = dir.path().join("press1.xml");
    std::fs::write(&sc, template.replace("PCAP_FILE", pcap.to_str().unwrap())).unwrap();
    let run = sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "6", "-r", "10"]);
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{}", run.stdout);
    let run = sipp(&gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", "500", "-m", "4", "-r", "10"]);
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{}", run.stdout);
    assert!(gw.wait_events("ended", 10, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300)); // the writer commits in batches

    let rows = list(&gw, &since);
    assert_eq!(rows.len(), 10, "{rows:#?}");
    let mut by_outcome: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for r in &rows {
        by_outcome.entry(r["outcome"].as_str().unwrap().to_string()).or_default().push(r);
        assert_eq!(r["identity"], "112");
        assert!(r["answered_at"].is_string(), "every row was answered by the gateway: {r}");
        assert!(r["config_version"].is_string());
        assert_eq!(r["hangup_by"], "caller");
    }
    let queue = &by_outcome["abandoned_queue"];
    assert_eq!(queue.len(), 6);
    assert!(queue.iter().all(|r| r["department"] == "medical" && r["ivr_digits"] == "1" && r["queue_entered_at"].is_string()));
    let ivr = &by_outcome["abandoned_ivr"];
    assert_eq!(ivr.len(), 4);
    assert!(ivr.iter().all(|r| r["department"].is_null()));

    // `calls show` tells one call's whole story.
    let id = queue[0]["id"].as_str().unwrap();
    let show = cc112(&["calls", "show", id, "--db", gw.db.to_str().unwrap(), "--config", gw.config_path.to_str().unwrap()]);
    for kind in ["started", "answered", "confirmed", "prompt", "digit", "routed", "ivr_path", "ended"] {
        assert!(show.contains(kind), "{kind} missing:\n{show}");
    }
    // The report's totals agree with the rows.
    let report: serde_json::Value = serde_json::from_str(&cc112(&[
        "report",
        "--json",
        "--db",
        gw.db.to_str().unwrap(),
        "--config",
        gw.config_path.to_str().unwrap(),
        "--since",
        &since,
    ]))
    .unwrap();
    let text = report.to_string();
    assert_eq!(report["total"].as_u64().or_else(|| report["calls"].as_u64()), Some(10), "{text}");
    assert!(text.contains("abandoned_queue") && text.contains("abandoned_ivr"), "{text}");
    assert_eq!(report["abandoned_in_queue"].as_u64().or_else(|| report["abandoned_queue"].as_u64()), Some(6), "{text}");
    assert_eq!(report["abandoned_in_ivr"].as_u64().or_else(|| report["abandoned_ivr"].as_u64()), Some(4), "{text}");
}

/// Call-IDs whose INVITE got a 200 OK, from a SIPp message trace.
fn answered_call_ids(trace: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for msg in trace.split("-----------------------------------------------") {
        if msg.contains("received") && msg.contains("SIP/2.0 200 OK") && msg.contains("INVITE") {
            if let Some(id) = msg.lines().find_map(|l| l.trim().strip_prefix("Call-ID:")).map(|v| v.trim().to_string()) {
                if msg.lines().any(|l| l.trim().starts_with("CSeq:") && l.contains("INVITE")) {
                    ids.push(id);
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// SIGKILL in the middle of 50 calls in mixed states (ringing in, in the IVR, in a
/// queue, hanging up), at a seeded moment; after the restart every call that got a 200
/// has exactly one row, the ones open at the kill are `interrupted`, the file is intact.
#[test]
fn kill_9_loses_no_answered_call() {
    let _load = crate::harness::heavy();
    for seed in [1u64, 2, 3] {
        let mut gw = Gateway::start();
        let uri = format!("sip:112@{}", gw.sip);
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("trace.log");
        let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
        let pcap = corpora().join("rtp/sipp_dtmf_2833_2.pcap");
        let sc = dir.path().join("press2.xml");
        std::fs::write(&sc, template.replace("PCAP_FILE", pcap.to_str().unwrap())).unwrap();
        // A deterministic kill moment per seed, 0.4 to 1.9 s into a 50-call burst.
        let kill_after = Duration::from_millis(400 + (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % 1500);
        let target = gw.sip;
        let (sc_s, uri_s, trace_s) = (sc.to_str().unwrap().to_string(), uri.clone(), trace.to_str().unwrap().to_string());
        let load = std::thread::spawn(move || {
            sipp_to(
                target,
                &["-sf", &sc_s, "-key", "ruri", &uri_s, "-m", "50", "-r", "40", "-l", "50", "-trace_msg", "-message_file", &trace_s, "-timeout", "12s"],
            )
        });
        std::thread::sleep(kill_after);
        gw.kill9();
        let killed_at = UtcMs::now();
        std::thread::sleep(Duration::from_millis(200));
        gw.restart();
        // SIPp ends by its own timeout (bounded) once its calls can no longer finish.
        let _ = load.join();
        let answered = answered_call_ids(&std::fs::read_to_string(&trace).unwrap_or_default());
        assert!(!answered.is_empty(), "seed {seed}: some calls were answered before the kill");
        let reader = Reader::open(&gw.db).unwrap();
        assert_eq!(reader.integrity_check().unwrap(), vec!["ok".to_string()], "seed {seed}");
        let rows = reader
            .list_calls(&cc112::store::query::CallFilter { range: Default::default(), department: None, outcome: None, limit: None, ..Default::default() })
            .unwrap();
        for id in &answered {
            let n = rows.iter().filter(|r| &r.sip_call_id == id).count();
            assert_eq!(n, 1, "seed {seed}: call {id} answered before the kill must have exactly one row");
        }
        // Calls SIPp placed after the restart may still be up; every call from before the
        // kill has been closed, by its end or by the recovery at start.
        let before: Vec<_> = rows.iter().filter(|r| r.started_at < killed_at).collect();
        assert!(before.iter().all(|r| r.ended_at.is_some()), "seed {seed}: a call from before the kill was left open");
        let interrupted = before.iter().filter(|r| r.outcome.map(|o| o.as_str()) == Some("interrupted")).count();
        assert!(interrupted > 0, "seed {seed}: calls open at the kill are closed as interrupted");
        eprintln!("seed {seed}: killed after {kill_after:?}; {} answered, {} rows, {interrupted} interrupted", answered.len(), rows.len());
    }
}
