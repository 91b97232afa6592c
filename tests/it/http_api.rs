//! The JSON API (issue 15) against the real gateway with SIPp calls and a real HTTP
//! client: every endpoint, 401 without a token, 403 for a viewer's POST, pagination
//! that returns every call exactly once, a call found by record id and by SIP Call-ID,
//! the report equal to `cc112 report --json`, a waiting caller's hostile display name
//! returned verbatim as a JSON string, a supervisor's pause stored with the token's
//! name, and an OpenAPI description that lists every route the server answers.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use cc112::config::{new_token, Role};
use serde_json::Value;

use crate::harness::{corpora, free_ports, scenario, sipp, sipp_from, Gateway};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(10))).build().into()
}

/// Status and body of a GET with an optional bearer token.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(&format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().expect("HTTP request");
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), body)
}

/// A GET that must answer 200 with JSON.
fn get_json(addr: SocketAddr, path: &str, token: &str) -> Value {
    let (code, body) = get(addr, path, Some(token));
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// Status and body of a POST with an optional token and JSON body.
fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut req = agent().post(&format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let resp = match body {
        Some(b) => req.header("Content-Type", "application/json").send(b),
        None => req.send_empty(),
    };
    let mut resp = resp.expect("HTTP request");
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), body)
}

/// The `error` of a JSON error body.
fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body}"));
    v["error"].as_str().unwrap_or_else(|| panic!("no error field: {body}")).to_string()
}

fn wait_until(mut ok: impl FnMut() -> bool, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `[http]` on a fresh port with these token entries, after `tables` (the rest of the
/// config's tables, or none).
fn http_tables(entries: &[&str]) -> (SocketAddr, String) {
    let http = SocketAddr::from(([127, 0, 0, 1], free_ports(1)));
    (http, format!("\n[http]\nlisten = [\"{http}\"]\n{}", entries.join("\n")))
}

fn wait_serving(gw: &Gateway, http: SocketAddr) {
    assert!(gw.wait_for(|l| l.contains("HTTP listening"), Duration::from_secs(10)), "{}", gw.log());
    wait_until(|| get(http, "/healthz", None).0 == 200, "/healthz 200");
}

/// `cc112 ARGS --config <the gateway's>`: stdout, which must be a success.
fn cli(gw: &Gateway, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(args).arg("--config").arg(&gw.config_path).output().unwrap();
    assert!(out.status.success(), "cc112 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Seven calls, then the records through the API: pages of 3 return each call exactly
/// once and as `cc112 calls list --json` does; one call by record id and by Call-ID;
/// the report as `cc112 report --json`; bad parameters 400, unknown ids 404, no token
/// 401; and the OpenAPI description lists exactly the routes that answer.
#[test]
fn records_through_the_api_paged_found_and_reported_as_the_cli_does() {
    let mut rng = rand::rngs::OsRng;
    let (viewer, viewer_entry) = new_token("desk", Role::Viewer, &mut rng).unwrap();
    let (sup, sup_entry) = new_token("lead", Role::Supervisor, &mut rng).unwrap();
    let (http, tables) = http_tables(&[&viewer_entry, &sup_entry]);
    let gw = Gateway::start_with_tables("", &tables);
    wait_serving(&gw, http);
    // From a minute ago, not the current shift: the test may run across a shift change.
    let since = cc112::store::UtcMs(cc112::store::UtcMs::now().0 - 60_000).rfc3339(cc112::config::UtcOffset::WIB);
    let from = format!("since={}", urlencode(&since));
    let run = sipp(&gw, &["-sn", "uac", "-s", "112", "-m", "7", "-r", "20"]);
    assert_eq!(run.successful, 7, "{}\n{}", run.stdout, run.stderr);
    wait_until(
        || {
            let page = get_json(http, &format!("/api/v1/calls?limit=500&{from}"), &viewer);
            let calls = page["calls"].as_array().unwrap();
            calls.len() == 7 && calls.iter().all(|c| !c["outcome"].is_null())
        },
        "7 ended calls in the records",
    );

    // Pages of 3: 3 + 3 + 1, every call exactly once, in the CLI's order and form.
    let mut ids = Vec::new();
    let mut paged = Vec::new();
    let mut path = format!("/api/v1/calls?limit=3&{from}");
    for page_no in 0.. {
        assert!(page_no < 5, "the pages do not end");
        let page = get_json(http, &path, &viewer);
        let calls = page["calls"].as_array().unwrap().clone();
        assert!(calls.len() <= 3);
        ids.extend(calls.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        paged.extend(calls);
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/calls?limit=3&{from}&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 7, "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "a call twice: {ids:?}");
    let lines: Vec<Value> = cli(&gw, &["calls", "list", "--json", "--since", &since]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(paged, lines, "the API's pages differ from `cc112 calls list --json`");

    // Filters as the CLI's.
    let abandoned = get_json(http, &format!("/api/v1/calls?outcome=abandoned_ivr&{from}"), &viewer);
    let n = lines.iter().filter(|c| c["outcome"] == "abandoned_ivr").count();
    assert_eq!(abandoned["calls"].as_array().unwrap().len(), n);
    let caller = lines[2]["caller"].as_str().unwrap();
    let by_caller = get_json(http, &format!("/api/v1/calls?caller={caller}&{from}"), &viewer);
    assert!(by_caller["calls"].as_array().unwrap().iter().all(|c| c["caller"] == caller) && !by_caller["calls"].as_array().unwrap().is_empty());
    assert_eq!(get_json(http, &format!("/api/v1/calls?operator=op-nobody&{from}"), &viewer)["calls"], serde_json::json!([]));

    // One call by record id and by SIP Call-ID: the same call, its whole timeline.
    let first = &lines[0];
    let by_id = get_json(http, &format!("/api/v1/calls/{}", first["id"].as_str().unwrap()), &viewer);
    assert_eq!(by_id["call"], *first);
    let events = by_id["events"].as_array().unwrap();
    assert_eq!(events[0]["kind"], "started", "{by_id}");
    assert_eq!(events.last().unwrap()["kind"], "ended", "{by_id}");
    assert!(events.iter().map(|e| e["seq"].as_i64().unwrap()).collect::<Vec<_>>().windows(2).all(|w| w[0] < w[1]));
    let call_id = first["sip_call_id"].as_str().unwrap();
    let by_sip = get_json(http, &format!("/api/v1/calls/{}", urlencode(call_id)), &viewer);
    assert_eq!(by_sip, by_id, "by Call-ID {call_id}");
    let (code, body) = get(http, "/api/v1/calls/no-such-call", Some(&viewer));
    assert_eq!(code, 404, "{body}");
    assert!(error_of(&body).contains("no call"), "{body}");

    // The report, as `cc112 report --json`.
    let report = get_json(http, &format!("/api/v1/report?{from}"), &viewer);
    assert_eq!(report["total"], 7, "{report}");
    let cli_report: Value = serde_json::from_str(&cli(&gw, &["report", "--json", "--since", &since])).unwrap();
    assert_eq!(report, cli_report);
    assert_eq!(get_json(http, "/api/v1/report?shift=previous", &viewer)["total"], 0);

    // Bad parameters: 400 with a JSON error, nothing read.
    let long = "9".repeat(300);
    for bad in [
        "/api/v1/calls?limit=0",
        "/api/v1/calls?limit=501",
        "/api/v1/calls?limit=-1",
        "/api/v1/calls?limit=99999999999999999999999",
        "/api/v1/calls?cursor=not-a-cursor",
        "/api/v1/calls?outcome=vanished",
        "/api/v1/calls?shift=yesterday-ish",
        "/api/v1/calls?since=monday",
        "/api/v1/calls?colour=red",
        &format!("/api/v1/calls?caller={long}"),
        "/api/v1/report?since=1970-01-01",
        "/api/v1/report?operator=x",
    ] {
        let (code, body) = get(http, bad, Some(&viewer));
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(!error_of(&body).is_empty(), "{bad}");
    }
    // No token: 401 everywhere, JSON too.
    for path in ["/api/v1/calls", "/api/v1/report", "/api/v1/queues", "/api/v1/operators", "/api/v1/openapi.json", "/api/v1/operator-events"] {
        let (code, body) = get(http, path, None);
        assert_eq!(code, 401, "{path}");
        assert!(error_of(&body).contains("token"), "{path}: {body}");
    }

    // The description lists every route, and every route it lists answers.
    let doc = get_json(http, "/api/v1/openapi.json", &viewer);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<String> = paths.iter().flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| format!("{m} {p}"))).collect();
    listed.sort();
    let expected = [
        "get /api/v1/callbacks",
        "get /api/v1/calls",
        "get /api/v1/calls/{id}",
        "get /api/v1/openapi.json",
        "get /api/v1/operator-events",
        "get /api/v1/operators",
        "get /api/v1/queues",
        "get /api/v1/report",
        "post /api/v1/callbacks/{id}/call",
        "post /api/v1/callbacks/{id}/claim",
        "post /api/v1/callbacks/{id}/done",
        "post /api/v1/operators/{id}/logout",
        "post /api/v1/operators/{id}/pause",
        "post /api/v1/operators/{id}/resume",
    ];
    assert_eq!(listed, expected);
    for route in &listed {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", if path.starts_with("/api/v1/calls/") { first["id"].as_str().unwrap() } else if path.starts_with("/api/v1/callbacks") { "NOITEM" } else { "op-nobody" });
        // Each route checks what it acts on: no operator, no callback item here.
        let (body, nothing) = match path.as_str() {
            p if p.ends_with("/done") => (r#"{"note":"x"}"#, "no callback item NOITEM"),
            p if p.starts_with("/api/v1/callbacks") => (r#"{"operator":"op-nobody"}"#, "no callback item NOITEM"),
            _ => ("{}", "no such operator"),
        };
        if method == "get" {
            assert_eq!(get(http, &path, Some(&viewer)).0, 200, "{route}");
        } else {
            assert_eq!(post(http, &path, Some(&viewer), Some(body)).0, 403, "{route}: a viewer may not");
            assert_eq!(post(http, &path, None, Some(body)).0, 401, "{route}: nobody may");
            let (code, body) = post(http, &path, Some(&sup), Some(body));
            assert_eq!(code, 404, "{route}: {body}");
            assert_eq!(error_of(&body), nothing);
        }
    }
    // The live routes with no operators configured and no call in progress.
    let queues = get_json(http, "/api/v1/queues", &viewer);
    assert!(queues.as_array().unwrap().iter().any(|q| q["id"] == "general" && q["callers"] == serde_json::json!([])), "{queues}");
    assert_eq!(get_json(http, "/api/v1/operators", &viewer), serde_json::json!([]));
}

/// Percent-encodes everything but unreserved characters (a Call-ID has `@`).
fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// op-budi's SIPp softphone registers (password "secret-op-budi").
fn register_op_budi(gw: &Gateway) {
    let reg = sipp_from(
        gw.sip,
        free_ports(1),
        free_ports(4),
        &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", "op-budi", "-au", "op-budi", "-ap", "secret-op-budi", "-m", "1"],
    );
    assert_eq!((reg.exit_code, reg.failed), (Some(0), 0), "register: {}", reg.stdout);
}

/// A caller named `<script>alert(1)</script>` who presses 1 (medical) and stays
/// `stay_ms` in the queue.
fn hostile_caller_scenario(dir: &std::path::Path, stay_ms: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(scenario("caller_dtmf.xml"))
        .unwrap()
        .replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap())
        .replace("\"Caller [call_number]\"", "\"<script>alert(1)</script>\"")
        .replace("<pause milliseconds=\"2500\"/>", &format!("<pause milliseconds=\"{stay_ms}\"/>"));
    let sc = dir.join("hostile.xml");
    std::fs::write(&sc, text).unwrap();
    sc
}

/// Operators and queues live, and a supervisor acting on an operator: the viewer may
/// read but not act (403), nobody without a token (401); the supervisor pauses op-budi
/// (so a caller waits in medical), the queue shows that caller with their hostile
/// display name verbatim as a JSON string, then resume and logout; the history in the
/// store names the token for each action.
#[test]
fn queues_and_operators_live_and_a_supervisor_pause_named_in_the_history() {
    let mut rng = rand::rngs::OsRng;
    let (viewer, viewer_entry) = new_token("wallboard", Role::Viewer, &mut rng).unwrap();
    let (sup, sup_entry) = new_token("kepala-shift", Role::Supervisor, &mut rng).unwrap();
    let (http, tables) = http_tables(&[&viewer_entry, &sup_entry]);
    let ops = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/config/valid_operators.toml"))
        .unwrap()
        .replace("[registrar]\n", "[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n");
    let gw = Gateway::start_with_tables("", &format!("{ops}\n{tables}"));
    wait_serving(&gw, http);
    // From a minute ago, not the current shift: the test may run across a shift change.
    let since = cc112::store::UtcMs(cc112::store::UtcMs::now().0 - 60_000).rfc3339(cc112::config::UtcOffset::WIB);
    register_op_budi(&gw);
    let op = |id: &str| get_json(http, "/api/v1/operators", &viewer).as_array().unwrap().iter().find(|o| o["id"] == id).cloned().unwrap();
    wait_until(|| op("op-budi")["state"] == "available", "op-budi available");
    let budi = op("op-budi");
    assert_eq!(budi["name"], "Budi Santoso");
    assert_eq!(budi["departments"], serde_json::json!(["medical", "general"]));
    assert_eq!((budi["registered"].as_bool(), budi["call"].is_null()), (Some(true), true), "{budi}");
    assert_eq!(op("op-sari")["state"], "offline");

    let pause = "/api/v1/operators/op-budi/pause";
    assert_eq!(post(http, pause, None, Some("{\"reason\":\"x\"}")).0, 401);
    let (code, body) = post(http, pause, Some(&viewer), Some("{\"reason\":\"x\"}"));
    assert_eq!(code, 403, "{body}");
    assert!(error_of(&body).contains("supervisor"), "{body}");
    assert_eq!(op("op-budi")["state"], "available", "a refused POST changed nothing");
    // Bad bodies: 400 (or 413 past the body limit), nothing done.
    for (bad, want) in [("{\"reason\": 5}", 400), ("not json", 400), ("{\"why\":\"x\"}", 400), (&format!("{{\"reason\":\"{}\"}}", "x".repeat(201))[..], 400), (&format!("{{\"reason\":\"{}\"}}", "x".repeat(10_000))[..], 413)] {
        let (code, body) = post(http, pause, Some(&sup), Some(bad));
        assert_eq!(code, want, "{bad:.40}: {body}");
    }
    assert_eq!(op("op-budi")["state"], "available");
    let (code, body) = post(http, pause, Some(&sup), Some("{\"reason\":\"istirahat\\u0007\"}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), serde_json::json!({"operator": "op-budi", "state": "paused"}));
    // The snapshot follows within its period (200 ms).
    wait_until(|| op("op-budi")["state"] == "paused", "op-budi paused in the snapshot");
    let budi = op("op-budi");
    assert_eq!(budi["reason"], "istirahat\\u{7}", "the bell escaped: {budi}");

    // A caller waits in medical (op-budi paused): the queue shows them, named verbatim.
    let dir = tempfile::tempdir().unwrap();
    let sc = hostile_caller_scenario(dir.path(), 6000);
    let uri = format!("sip:112@{}", gw.sip);
    let gw_ref = &gw;
    std::thread::scope(|scope| {
        let caller = scope.spawn(move || sipp(gw_ref, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]));
        let medical = || get_json(http, "/api/v1/queues", &viewer).as_array().unwrap().iter().find(|q| q["id"] == "medical").cloned().unwrap();
        wait_until(|| medical()["waiting"] == 1, "the caller waiting in medical");
        let (_, raw) = get(http, "/api/v1/queues", Some(&viewer));
        assert!(raw.contains(r#""caller_name":"<script>alert(1)</script>""#), "{raw}");
        let q = medical();
        let c = &q["callers"][0];
        assert_eq!(c["caller_name"], "<script>alert(1)</script>");
        assert_eq!(c["position"], 1);
        assert!(c["caller"].as_str().unwrap().starts_with("08123"), "{c}");
        assert!(c["wait_seconds"].as_f64().unwrap() >= 0.0 && c["offered_to"].is_null(), "{c}");
        assert_eq!(c["routing"]["queue"], "medical", "{c}");
        // A caller who pressed a key: the normal class, no flags (issue 16).
        assert_eq!((c["class"].as_str(), c["effective_class"].as_str(), c["flags"].is_null()), (Some("normal"), Some("normal"), true), "{c}");
        assert!(q["oldest_wait_seconds"].as_f64().is_some(), "{q}");
        // The record behind the waiting caller, by its id, while the call lasts.
        let record = c["record"].as_str().unwrap();
        let call = get_json(http, &format!("/api/v1/calls/{record}"), &viewer);
        assert_eq!(call["call"]["caller_name"], "<script>alert(1)</script>");
        assert_eq!(call["call"]["sip_call_id"], c["sip_call_id"]);
        assert!(call["call"]["outcome"].is_null(), "{call}");
        assert_eq!((call["call"]["class"].as_str(), call["call"]["direction"].is_null()), (Some("normal"), true), "{call}");
        let run = caller.join().unwrap();
        assert_eq!(run.successful, 1, "{}\n{}", run.stdout, run.stderr);
    });

    let (code, body) = post(http, "/api/v1/operators/op-budi/resume", Some(&sup), None);
    assert_eq!((code, serde_json::from_str::<Value>(&body).unwrap()["state"].as_str()), (200, Some("available")), "{body}");
    let (code, body) = post(http, "/api/v1/operators/op-budi/logout", Some(&sup), None);
    assert_eq!((code, serde_json::from_str::<Value>(&body).unwrap()["state"].as_str()), (200, Some("offline")), "{body}");
    assert_eq!(post(http, "/api/v1/operators/op-nobody/resume", Some(&sup), None).0, 404);

    // The history names the token for each action, in the store and through the API.
    let supervisor = |e: &cc112::store::query::OperatorEventRow, reason: &str| e.operator == "op-budi" && e.kind == "supervisor" && e.reason.as_deref() == Some(reason);
    wait_until(
        || {
            let hist = cc112::store::query::Reader::open(&gw.db).unwrap().operator_events(Default::default()).unwrap();
            hist.iter().any(|e| supervisor(e, "logout by kepala-shift"))
        },
        "the logout in the store",
    );
    let hist = cc112::store::query::Reader::open(&gw.db).unwrap().operator_events(Default::default()).unwrap();
    for reason in ["pause by kepala-shift: istirahat\\u{7}", "resume by kepala-shift", "logout by kepala-shift"] {
        assert_eq!(hist.iter().filter(|e| supervisor(e, reason)).count(), 1, "{reason}: {hist:?}");
    }
    assert!(hist.iter().any(|e| e.operator == "op-budi" && e.kind == "pause"), "the state change itself is kept too: {hist:?}");
    let api = get_json(http, &format!("/api/v1/operator-events?operator=op-budi&since={}", urlencode(&since)), &viewer);
    let kinds: Vec<(&str, &str)> = api["events"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap(), e["reason"].as_str().unwrap_or(""))).collect();
    assert!(kinds.contains(&("supervisor", "pause by kepala-shift: istirahat\\u{7}")), "{kinds:?}");
    assert!(api["events"].as_array().unwrap().iter().all(|e| e["operator"] == "op-budi"));
    // And with `cc112 operators history`.
    let text = cli(&gw, &["operators", "history", "--operator", "op-budi", "--since", &since]);
    assert!(text.lines().any(|l| l.contains("supervisor") && l.ends_with("pause by kepala-shift: istirahat\\u{7}")), "{text}");
    assert!(text.lines().skip(1).all(|l| l.contains("op-budi")), "{text}");
    // And in the log, with the token's name and the outcome.
    let log = gw.log();
    let actions: Vec<&str> = log.lines().filter(|l| l.contains("supervisor_action")).collect();
    assert_eq!(actions.len(), 4, "3 carried out, 1 refused: {log}");
    assert!(actions.iter().all(|l| l.contains("kepala-shift")), "{actions:?}");
    assert_eq!(actions.iter().filter(|l| l.contains("no such operator")).count(), 1, "{actions:?}");
}
