//! The central record view in PostgreSQL (issue 18): the real gateway ships its SQLite
//! records to a throwaway PostgreSQL cluster (`pg.rs`); the CLI reads them back with
//! `--central` and prints exactly what it prints from the node's own file; PostgreSQL
//! down under load costs no call and no local record, and the view catches up; a node
//! killed with calls in progress has them closed as `interrupted` by its peer, and its
//! own recovery, shipped at its restart, double-counts nothing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cc112::config::UtcOffset;
use cc112::store::UtcMs;

use crate::harness::{heavy, scenario, sipp, sipp_child, sipp_to, Gateway};
use crate::pg::Pg;

fn cc112(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(args).output().expect("run cc112");
    assert!(out.status.success(), "cc112 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A gateway shipping to `pg` under the node name `name`.
fn node(pg: &Pg, name: &str) -> Gateway {
    node_with(pg, name, "")
}

/// [`node`] with more `tables`.
fn node_with(pg: &Pg, name: &str, tables: &str) -> Gateway {
    Gateway::start_with_tables("", &format!("[store]\ncentral = \"{}\"\n\n[node]\nname = \"{name}\"\n\n{tables}", pg.url()))
}

/// `cc112_central_rows_behind` and `cc112_central_up` from `/metrics`.
fn central_gauges(http: u16) -> (i64, i64) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(10))).build().into();
    let text = agent.get(&format!("http://127.0.0.1:{http}/metrics")).call().expect("GET /metrics").body_mut().read_to_string().unwrap();
    let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    (value("cc112_central_rows_behind "), value("cc112_central_up "))
}

/// Rows of a local table (read-only, as the CLI reads).
pub(crate) fn local(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The central view holds exactly this node's rows: calls, open calls, events,
/// operator events and refusals counted on both sides.
pub(crate) fn in_step(pg: &Pg, gw: &Gateway, name: &str) -> bool {
    let checks = [
        ("calls", ""),
        ("calls", " AND ended_at IS NULL"),
        ("call_events", ""),
        ("operator_events", ""),
        ("refusals", ""),
    ];
    checks.iter().all(|(t, cond)| {
        let here = local(&gw.db, &format!("SELECT COUNT(*) FROM {t} WHERE 1 = 1{cond}"));
        let there = pg.count(&format!("SELECT COUNT(*) FROM {t} WHERE node = '{name}'{cond}"));
        here == there
    })
}

/// `cc112 <command> --json` over the node's file and over the central view (this
/// node's rows): both outputs.
fn both(gw: &Gateway, pg: &Pg, name: &str, command: &[&str]) -> (String, String) {
    let cfg = gw.config_path.to_str().unwrap();
    let mut mine: Vec<&str> = command.to_vec();
    mine.extend(["--config", cfg, "--db", gw.db.to_str().unwrap()]);
    let url = pg.url();
    let mut central: Vec<&str> = command.to_vec();
    central.extend(["--config", cfg, "--central", &url, "--node", name]);
    (cc112(&mine), cc112(&central))
}

fn since_a_minute_ago() -> String {
    UtcMs(UtcMs::now().0 - 60_000).rfc3339(UtcOffset::WIB)
}

#[test]
fn central_view_holds_the_local_rows_and_the_cli_prints_the_same_from_it() {
    let Some(pg) = Pg::start("central_view_holds_the_local_rows_and_the_cli_prints_the_same_from_it") else { return };
    let since = since_a_minute_ago();
    let gw = node(&pg, "node-a");
    let uri = format!("sip:112@{}", gw.sip);
    let run = sipp(&gw, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri, "-d", "500", "-m", "20", "-r", "10"]);
    assert_eq!((run.exit_code, run.successful, run.failed), (Some(0), 20, 0), "{}", run.stdout);
    assert!(gw.wait_events("ended", 20, Duration::from_secs(10)), "{}", gw.log());
    let took = pg.wait_until(Duration::from_secs(10), |pg| local(&gw.db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL") == 20 && in_step(pg, &gw, "node-a"));
    println!("central view in step with the node's journal {took:?} after the last call ended");
    assert!(took.is_some(), "central view behind:\n{}", gw.log());
    assert_eq!(pg.count("SELECT COUNT(*) FROM calls WHERE node = 'node-a'"), 20);
    assert_eq!(pg.psql("SELECT name, version FROM nodes"), format!("node-a|{}", env!("CARGO_PKG_VERSION")));

    let (mine, central) = both(&gw, &pg, "node-a", &["calls", "list", "--json", "--since", &since]);
    assert_eq!(mine.lines().count(), 20);
    assert_eq!(mine, central, "calls list --json differs between the file and the central view");
    let (mine, central) = both(&gw, &pg, "node-a", &["report", "--json", "--since", &since]);
    assert!(mine.contains("\"total\":20") || mine.contains("\"total\": 20"), "{mine}");
    assert_eq!(mine, central, "report --json differs");
    let id = serde_json::from_str::<serde_json::Value>(mine_first_line(&gw, &since).as_str()).unwrap()["id"].as_str().unwrap().to_string();
    let (mine, central) = both(&gw, &pg, "node-a", &["calls", "show", &id]);
    assert!(mine.contains("started"), "{mine}");
    assert_eq!(mine, central, "calls show differs");
    // Another node's name selects nothing; the text table is the same too.
    let cfg = gw.config_path.to_str().unwrap();
    let url = pg.url();
    assert_eq!(cc112(&["calls", "list", "--json", "--config", cfg, "--central", &url, "--node", "other", "--since", &since]), "");
    let (mine, central) = both(&gw, &pg, "node-a", &["calls", "list", "--since", &since]);
    assert_eq!(mine, central);
}

fn mine_first_line(gw: &Gateway, since: &str) -> String {
    let cfg = gw.config_path.to_str().unwrap();
    cc112(&["calls", "list", "--json", "--config", cfg, "--db", gw.db.to_str().unwrap(), "--since", since]).lines().next().unwrap().to_string()
}

#[test]
fn postgresql_down_for_30_s_under_load_costs_no_call_and_the_view_catches_up() {
    let _heavy = heavy();
    let Some(mut pg) = Pg::start("postgresql_down_for_30_s_under_load_costs_no_call_and_the_view_catches_up") else { return };
    let http = crate::harness::free_ports(1);
    let gw = node_with(&pg, "node-a", &format!("[http]\nlisten = [\"127.0.0.1:{http}\"]\n"));
    let uri = format!("sip:112@{}", gw.sip);
    // 10 new calls a second for 36 s, each 1 s long; PostgreSQL is down from 3 s to 33 s.
    let target = gw.sip;
    let sc = scenario("caller.xml");
    let load = std::thread::spawn(move || sipp_to(target, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-d", "1000", "-m", "360", "-r", "10"]));
    std::thread::sleep(Duration::from_secs(3));
    assert!(pg.count("SELECT COUNT(*) FROM calls") > 0, "nothing shipped before the outage:\n{}", gw.log());
    pg.stop();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(30));
    let (behind, up) = central_gauges(http);
    println!("/metrics at the end of the outage: cc112_central_rows_behind {behind}, cc112_central_up {up}");
    assert!(behind > 1000 && up == 0, "the outage is not in /metrics");
    let local_at_return = local(&gw.db, "SELECT COUNT(*) FROM call_events");
    pg.start_again();
    let back = Instant::now();
    println!("PostgreSQL down for {:.1} s", back.duration_since(down).as_secs_f64());
    let caught = pg.wait_until(Duration::from_secs(10), |pg| pg.count("SELECT COUNT(*) FROM call_events WHERE node = 'node-a'") >= local_at_return);
    println!("central view caught up with the {local_at_return} events of the outage in {caught:?}");
    assert!(caught.is_some(), "central view did not catch up within 10 s:\n{}\n{}", gw.log(), pg.log());
    let run = load.join().unwrap();
    assert_eq!((run.exit_code, run.successful, run.failed), (Some(0), 360, 0), "calls failed while PostgreSQL was down\n{}", run.stdout);
    assert!(gw.wait_events("ended", 360, Duration::from_secs(10)));
    let settled = pg.wait_until(Duration::from_secs(10), |pg| local(&gw.db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL") == 360 && in_step(pg, &gw, "node-a"));
    println!("central view equal to the journal {settled:?} after the load ended ({:.1} s after PostgreSQL returned)", back.elapsed().as_secs_f64());
    assert!(settled.is_some(), "central view not equal to the local rows");
    std::thread::sleep(Duration::from_millis(500)); // the gauge follows each round
    assert_eq!(central_gauges(http), (0, 1), "/metrics after the catch-up");
    assert_eq!(local(&gw.db, "SELECT COUNT(*) FROM calls"), 360, "local records lost");
    assert_eq!(pg.count("SELECT COUNT(*) FROM calls WHERE node = 'node-a'"), 360);
    let outages = gw.log().lines().filter(|l| l.contains("CENTRAL VIEW UNREACHABLE")).count();
    assert_eq!(outages, 1, "the outage is logged once, not per attempt");
    assert!(gw.log().contains("central view reachable again"));
}

#[test]
fn a_killed_node_has_its_open_calls_closed_by_its_peer_and_its_restart_double_counts_nothing() {
    let _heavy = heavy();
    let Some(pg) = Pg::start("a_killed_node_has_its_open_calls_closed_by_its_peer_and_its_restart_double_counts_nothing") else { return };
    let since = since_a_minute_ago();
    let mut a = node(&pg, "a");
    let b = node(&pg, "b");
    // B: three short calls; A: five calls held open (callers stay 60 s).
    let uri_b = format!("sip:112@{}", b.sip);
    let run = sipp(&b, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri_b, "-d", "300", "-m", "3", "-r", "10"]);
    assert_eq!((run.exit_code, run.failed), (Some(0), 0), "{}", run.stdout);
    let uri_a = format!("sip:112@{}", a.sip);
    let mut held = sipp_child(a.sip, &["-sf", scenario("caller.xml").to_str().unwrap(), "-key", "ruri", &uri_a, "-d", "60000", "-m", "5", "-r", "10"]);
    let shipped = pg.wait_until(Duration::from_secs(15), |pg| pg.count("SELECT COUNT(*) FROM calls WHERE node = 'a' AND ended_at IS NULL") == 5);
    assert!(shipped.is_some(), "A's open calls not in the central view:\n{}", a.log());
    a.kill9();
    let killed = Instant::now();
    let _ = held.kill();
    let _ = held.wait();

    let closed = pg.wait_until(Duration::from_secs(20), |pg| pg.count("SELECT COUNT(*) FROM calls WHERE node = 'a' AND outcome = 'interrupted' AND taken_over_by = 'b'") == 5);
    println!("B closed A's 5 open calls in the central view {:.1} s after the kill", killed.elapsed().as_secs_f64());
    assert!(closed.is_some(), "B did not take over:\n{}", b.log());
    assert_eq!(pg.count("SELECT COUNT(*) FROM calls WHERE node = 'a' AND ended_at IS NULL"), 0);
    assert!(b.log().contains("takeover"), "{}", b.log());

    // A comes back: its recovery closes the same five calls in its journal and ships.
    a.restart();
    let settled = pg.wait_until(Duration::from_secs(15), |pg| in_step(pg, &a, "a") && local(&a.db, "SELECT COUNT(*) FROM call_events WHERE kind = 'interrupted'") == 5);
    assert!(settled.is_some(), "A's recovery not shipped:\n{}", a.log());
    assert!(in_step(&pg, &b, "b"));
    assert_eq!(pg.count("SELECT COUNT(*) FROM calls"), 8, "a call counted twice");
    assert_eq!(pg.count("SELECT COUNT(*) FROM calls WHERE node = 'a' AND outcome = 'interrupted'"), 5);
    assert_eq!(pg.count("SELECT COUNT(*) FROM call_events WHERE node = 'a' AND kind = 'interrupted'"), 5);
    // The central view of each node is what that node's file says.
    for (gw, name) in [(&a, "a"), (&b, "b")] {
        let (mine, central) = both(gw, &pg, name, &["calls", "list", "--json", "--since", &since]);
        assert_eq!(mine, central, "node {name}");
    }
    // Both nodes together in one report: 8 calls.
    let cfg = a.config_path.to_str().unwrap();
    let url = pg.url();
    let all: serde_json::Value = serde_json::from_str(&cc112(&["report", "--json", "--config", cfg, "--central", &url, "--since", &since])).unwrap();
    assert_eq!(all["total"], 8, "{all}");
    assert_eq!(all["by_outcome"]["interrupted"], 5, "{all}");
}
