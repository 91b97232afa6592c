//! A restart costs no operator (issue 18): the registrar's contacts are kept in the
//! record database and taken back at start, so a node that was killed (`kill -9`) or
//! upgraded rings its operators' phones at once, without waiting for each phone to
//! register again (up to `[registrar] max_expires` later).

use std::time::{Duration, Instant};

use crate::harness::{corpora, scenario, sipp_from};
use crate::operators::{gateway_with_operators, register_op_budi};

/// The registration rows the gateway's database holds.
fn saved_contacts(db: &std::path::Path) -> usize {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else { return 0 };
    conn.query_row("SELECT COUNT(*) FROM registrations WHERE operator_id = 'op-budi'", [], |r| r.get::<_, i64>(0)).unwrap_or(0) as usize
}

#[test]
fn a_gateway_killed_and_started_again_rings_its_operator_without_a_new_register() {
    let mut gw = gateway_with_operators();
    let (op_port, op_media) = register_op_budi(&gw);
    let end = Instant::now() + Duration::from_secs(5);
    while saved_contacts(&gw.db) != 1 {
        assert!(Instant::now() < end, "the registration was not kept: {}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.kill9();
    gw.restart();
    assert!(gw.wait_for(|l| l.contains("registrations taken back") && l.contains("\"taken\":1"), Duration::from_secs(5)), "{}", gw.log());
    // The phone registers no more: its SIPp only answers the call the new process offers.
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo"]));
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(scenario("caller_dtmf.xml")).unwrap();
    let sc = dir.path().join("press1.xml");
    std::fs::write(&sc, template.replace("PCAP_FILE", corpora().join("rtp/sipp_dtmf_2833_1.pcap").to_str().unwrap())).unwrap();
    let uri = format!("sip:112@{}", gw.sip);
    let caller = crate::harness::sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "1"]);
    assert_eq!((caller.exit_code, caller.failed), (Some(0), 0), "caller: {}", caller.stdout);
    let op = operator.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}\n{}", op.stdout, gw.log());
    let answered = gw.events("operator_answered");
    assert_eq!(answered.len(), 1, "{}", gw.log());
    assert_eq!(answered[0]["fields"]["operator"], "op-budi");
    // Only the first process saw a REGISTER.
    assert_eq!(gw.log().matches("\"operator registered\"").count(), 2, "one REGISTER before the kill, one binding taken back after it: {}", gw.log());
}
