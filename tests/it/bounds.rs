//! Issue 13's bounds over the wire: the caps that hold what the network can grow hold
//! in the real gateway, and what happens at each cap is what the README's Bounds table
//! says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::harness::{free_ports, reserve_ports, scenario, sipp, Gateway};

/// Rows of the call database, read the way a supervisor would (read-only).
fn count(db: &Path, sql: &str) -> i64 {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open read-only");
    conn.query_row(sql, [], |r| r.get(0)).expect("query")
}

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The database's files made immutable (`chattr +i`): every write to them fails with
/// EPERM, for root too, through the descriptors SQLite already holds: a real I/O
/// failure, as a failing disk gives. Undone on drop, so the test's directory can go.
struct DiskOut(Vec<PathBuf>);

impl DiskOut {
    fn begin(files: &[PathBuf]) -> DiskOut {
        for f in files {
            assert!(f.exists(), "{} missing", f.display());
            let st = Command::new("chattr").arg("+i").arg(f).status().expect("chattr (e2fsprogs) runs");
            assert!(st.success(), "chattr +i {}: the test directory must be on a file system with immutable files (ext4, xfs, btrfs)", f.display());
        }
        DiskOut(files.to_vec())
    }

    fn end(&mut self) {
        for f in self.0.drain(..) {
            let _ = Command::new("chattr").arg("-i").arg(&f).status();
        }
    }
}

impl Drop for DiskOut {
    fn drop(&mut self) {
        self.end();
    }
}

/// While the database cannot be written, records wait in memory up to
/// `[store] queue_capacity`: timeline events give way past half of it, and at the cap
/// new callers get 503 with Retry-After instead of an answer without a record. When
/// the disk is back every answered call has its row, answered and ended, and new calls
/// are answered again.
#[test]
fn with_the_disk_out_records_wait_up_to_the_cap_then_new_calls_get_503_and_no_answered_call_loses_its_row() {
    let _heavy = crate::harness::heavy();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cc112.db");
    let port = free_ports(1);
    let media = reserve_ports(1002);
    let media = media + media % 2;
    let toml = format!(
        "[sip]\nlisten_udp = [\"127.0.0.1:{port}\"]\nlisten_tcp = [\"127.0.0.1:{port}\"]\n\n\
         [media]\naddress = \"127.0.0.1\"\nport_min = {media}\nport_max = {}\n\n\
         [store]\npath = \"{}\"\nqueue_capacity = 1000\n\n[overload]\nretry_after = \"7s\"\n",
        media + 999,
        db.display()
    );
    let gw = Gateway::start_config(&toml, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let uri = format!("sip:112@{}", gw.sip);
    let plain = scenario("caller.xml");

    // A healthy disk: three calls, three rows.
    let run = sipp(&gw, &["-sf", plain.to_str().unwrap(), "-key", "ruri", &uri, "-m", "3", "-d", "200"]);
    assert_eq!((run.successful, run.failed), (3, 0), "{}\n{}", run.stdout, gw.log());
    eventually("the first calls' rows", Duration::from_secs(10), || count(&db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL") == 3);

    // The disk goes: 400 callers at 100/s. The first are answered (records in memory);
    // once 1,000 records wait the rest are refused 503 with Retry-After (the scenario
    // fails a call given anything else).
    let mut out = DiskOut::begin(&[db.clone(), dir.path().join("cc112.db-wal")]);
    let or_503 = scenario("caller_or_503.xml");
    let run = sipp(&gw, &["-sf", or_503.to_str().unwrap(), "-key", "ruri", &uri, "-m", "400", "-r", "100", "-l", "200", "-d", "200"]);
    assert_eq!((run.successful, run.failed), (400, 0), "{}\n{}", run.stdout, gw.log());
    assert!(gw.wait_events("ended", 403, Duration::from_secs(20)), "{}", gw.log());
    let answered = gw.events("answered").len() - 3;
    let refused = gw.events("ended").iter().filter(|e| e["fields"]["reason"] == "no_record").count();
    assert_eq!(answered + refused, 400, "every caller answered or refused for want of room:\n{}", gw.log());
    assert!(refused > 0 && answered > 100, "answered {answered}, refused {refused}: the cap is 1,000 records, about 4 a call once timeline events give way");
    assert!(gw.log().contains("record store full: new calls are refused with 503"), "logged loudly:\n{}", gw.log());
    assert!(gw.log().contains("record store cannot commit"), "{}", gw.log());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM calls"), 3, "nothing reached the file while it was out");

    // The disk is back: the writer's retry writes everything that waited.
    out.end();
    let want = 3 + answered as i64;
    eventually("the answered calls' rows", Duration::from_secs(20), || count(&db, "SELECT COUNT(*) FROM calls") == want);
    assert!(gw.wait_for(|l| l.contains("record store has room again"), Duration::from_secs(10)), "{}", gw.log());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM calls WHERE answered_at IS NOT NULL AND ended_at IS NOT NULL AND outcome IS NOT NULL"), want, "every answered call has its answer and its end");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM calls WHERE outcome = 'rejected'"), 0, "the refused calls' records had no room either");
    // And new callers are answered again, with a record.
    let run = sipp(&gw, &["-sf", plain.to_str().unwrap(), "-key", "ruri", &uri, "-m", "2", "-d", "200"]);
    assert_eq!((run.successful, run.failed), (2, 0), "{}\n{}", run.stdout, gw.log());
    eventually("the new calls' rows", Duration::from_secs(10), || count(&db, "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL") == want + 2);
}

/// A TCP connection to `to` from the loopback address `from` (any port).
fn connect_from(from: std::net::Ipv4Addr, to: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&std::net::SocketAddr::from((from, 0)).into())?;
    sock.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(sock.into())
}

/// Many addresses (127.0.1.0–127.0.1.63, each at its own cap of 64) cannot take more
/// than 4,096 connections in all: the next one is closed at once, the open ones are
/// served, and a place that frees is taken again.
#[test]
fn tcp_connections_are_capped_in_all_whatever_the_source_address() {
    use std::io::{Read, Write};

    use crate::gateway::{options, read_responses};

    let _heavy = crate::harness::heavy();
    // The listener's backlog is short: a connect now and then waits a SYN retransmit
    // (1 s) while the gateway is busy, so the phase may outlast the default idle timeout.
    let gw = Gateway::start_with("tcp_idle_timeout = \"5m\"");
    let mut open = Vec::new();
    for a in 0..64u8 {
        for _ in 0..64 {
            let mut t = connect_from(std::net::Ipv4Addr::new(127, 0, 1, a), gw.sip).expect("connect");
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Answered: the gateway has accepted it (it waits in no backlog).
            let i = open.len();
            t.write_all(options(&format!("cap{i}")).as_bytes()).unwrap();
            assert_eq!(read_responses(&mut t, 1), vec![200], "connection {i}\n{}", gw.log());
            open.push(t);
        }
    }
    // The 4,097th, from an address with none open: closed at once.
    let newcomer = std::net::Ipv4Addr::new(127, 0, 2, 1);
    let mut extra = connect_from(newcomer, gw.sip).expect("the kernel completes the handshake");
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(extra.read(&mut buf), Ok(0) | Err(_)), "past 4,096 in all: closed");
    assert!(gw.wait_for(|l| l.contains("the gateway's connections are all taken"), Duration::from_secs(5)), "{}", gw.log());
    // The open ones go on.
    open[0].write_all(options("still").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut open[0], 1), vec![200]);
    // Ten close; their places are taken again.
    open.truncate(open.len() - 10);
    let end = Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        let mut t = connect_from(newcomer, gw.sip).expect("connect");
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        t.write_all(options("again").as_bytes()).unwrap();
        if read_responses(&mut t, 1) == vec![200] {
            break t;
        }
        assert!(Instant::now() < end, "a freed place was not taken again\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    again.write_all(options("again2").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut again, 1), vec![200]);
}
