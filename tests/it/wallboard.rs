//! The wallboard and the event stream of the real gateway (issue 15): the login form
//! and its cookie, the security headers, the event stream's order and latency read by a
//! plain HTTP client, and the page in a real browser (headless Chromium driven through
//! chromedriver by WebDriver) with SIPp callers waiting in `fire`.
//!
//! The browser test needs the Debian packages `chromium` and `chromium-driver`
//! (`.ci/run` installs them); without them it says SKIPPED, and fails when `CI=true`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cc112::config::{new_token, Role};

use crate::harness::{free_ports, scenario, sipp_from, Gateway};

/// The fire department's two operators: (id, name, password).
const OPERATORS: [(&str, &str, &str); 2] = [("op-dewi", "Dewi Lestari", "pw-dewi"), ("op-sari", "Sari Wulandari", "pw-sari")];
/// The caller whose display name is a script.
const SCRIPT_NAME: &str = "<script>alert(1)</script>";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).timeout_global(Some(Duration::from_secs(10))).build().into()
}

/// A gateway with HTTP, the viewer `token` entry, and the two fire operators (MD5 for
/// SIPp, no wrap-up).
fn gateway(token_entry: &str) -> (Gateway, SocketAddr) {
    let http = SocketAddr::from(([127, 0, 0, 1], free_ports(1)));
    let mut tables = String::from("[registrar]\nalgorithms = [\"MD5\", \"SHA-256\"]\n[acd]\nwrap_up = \"0s\"\n");
    for (id, name, pw) in OPERATORS {
        let (md5, _) = cc112::config::operator_hash(id, "cc112", pw);
        tables += &format!("[[operators]]\nid = \"{id}\"\nname = \"{name}\"\ndepartments = [\"fire\"]\nha1_md5 = \"{md5}\"\n");
    }
    let gw = Gateway::start_with_tables("", &format!("{tables}\n[http]\nlisten = [\"{http}\"]\n{token_entry}\n"));
    assert!(gw.wait_for(|l| l.contains("HTTP listening"), Duration::from_secs(10)), "{}", gw.log());
    wait_until(Duration::from_secs(15), "/healthz 200", || agent().get(&format!("http://{http}/healthz")).call().is_ok_and(|r| r.status() == 200));
    (gw, http)
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The board's JSON with a bearer token.
fn board(http: SocketAddr, token: &str) -> serde_json::Value {
    let mut r = agent().get(&format!("http://{http}/api/v1/wallboard")).header("Authorization", &format!("Bearer {token}")).call().unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn fire(board: &serde_json::Value) -> serde_json::Value {
    board["departments"].as_array().unwrap().iter().find(|d| d["id"] == "fire").cloned().unwrap()
}

/// An operator's phone registers; returns its SIP and media ports (it answers on them).
fn register(gw: &Gateway, id: &str, pw: &str) -> (u16, u16) {
    let (port, media) = (free_ports(1), free_ports(4));
    let reg = sipp_from(gw.sip, port, media, &["-sf", scenario("operator_register.xml").to_str().unwrap(), "-key", "operator", id, "-au", id, "-ap", pw, "-m", "1"]);
    assert_eq!((reg.exit_code, reg.failed), (Some(0), 0), "register {id}: {}", reg.stdout);
    (port, media)
}

/// `caller.xml` with the callers' number prefix and display name replaced, in `dir`.
fn caller_scenario(dir: &Path, file: &str, prefix: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(scenario("caller.xml")).unwrap().replace("\"Caller [call_number]\"", &format!("\"{name}\"")).replace("08123[call_number]", &format!("{prefix}[call_number]"));
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// SIPp callers to 113 (straight to `fire`) in the background: `calls` of them, each
/// on the line `hold_ms`. Killed by the test when it has seen enough.
fn spawn_callers(gw: &Gateway, sc: &Path, calls: u32, hold_ms: u32) -> Child {
    let uri = format!("sip:113@{}", gw.sip);
    Command::new("sipp")
        .arg(gw.sip.to_string())
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &free_ports(1).to_string(), "-mp", &free_ports(4).to_string(), "-nostdin", "-timeout", "120s"])
        .args(["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-d", &hold_ms.to_string(), "-m", &calls.to_string(), "-l", &calls.to_string(), "-r", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is not installed: apt-get install -y sip-tester")
}

/// One SIPp caller to 113 on the line `hold_ms`, checked: on failure, the message SIPp
/// did not expect and the gateway's log.
fn call_113(gw: &Gateway, sc: &Path, hold_ms: u32) {
    let dir = tempfile::tempdir().unwrap();
    let errors = dir.path().join("errors.log");
    let uri = format!("sip:113@{}", gw.sip);
    let run = crate::harness::sipp(gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-d", &hold_ms.to_string(), "-m", "1", "-trace_err", "-error_file", errors.to_str().unwrap()]);
    if (run.exit_code, run.failed) != (Some(0), 0) {
        let unexpected = std::fs::read_to_string(&errors).unwrap_or_default();
        panic!("the caller failed:\n{}\nwhat SIPp did not expect:\n{unexpected}\nthe gateway:\n{}", run.stdout, gw.log());
    }
}

/// Kills and reaps the processes a test started.
struct Reap(Vec<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------- login and headers

fn post_form(http: SocketAddr, path: &str, body: &str, origin: Option<&str>, cookie: Option<&str>) -> ureq::http::Response<ureq::Body> {
    let mut req = agent().post(&format!("http://{http}{path}")).header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send(body).unwrap()
}

/// The form logs in with the token into an `HttpOnly; SameSite=Strict` cookie that the
/// page and the API accept; a wrong token gets 401 and no cookie; a POST by cookie from
/// another origin is refused; every answer carries the security headers; the static
/// files are cached by their hash; failed logins are limited per address.
#[test]
fn wallboard_login_sets_a_strict_cookie_and_the_headers_forbid_inline_scripts() {
    let (token, entry) = new_token("wall", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (_gw, http) = gateway(&entry);
    let base = format!("http://{http}");

    // Without a cookie: the form, with the headers.
    let mut r = agent().get(&format!("{base}/")).call().unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    for part in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let form = r.body_mut().read_to_string().unwrap();
    assert!(form.contains("action=\"/login?lang=id\"") && form.contains("name=\"token\""), "{form}");
    assert!(!form.contains("dept-"), "no data without a token");
    assert_eq!(agent().get(&format!("{base}/api/v1/wallboard")).call().unwrap().status(), 401);

    // A wrong token: 401, the form again, no cookie.
    let r = post_form(http, "/login", "token=cc112_wrong", None, None);
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());

    // The right one: a cookie, and back to the board.
    let r = post_form(http, "/login?lang=en", &format!("token={token}"), Some(&base), None);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/?lang=en");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["cc112_token=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let mut r = agent().get(&format!("{base}/?lang=en")).header("Cookie", &cookie).call().unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.body_mut().read_to_string().unwrap();
    assert!(page.contains("<html lang=\"en\">") && page.contains("id=\"dept-fire\"") && page.contains("Sari Wulandari"), "{page}");
    assert!(!page.contains("style=") && page.matches("<script").count() == 1, "one external script, no inline code or style");
    let mut r = agent().get(&format!("{base}/api/v1/wallboard?lang=id")).header("Cookie", &cookie).call().unwrap();
    assert_eq!(r.status(), 200);
    let state: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(state["lang"], "id");
    assert_eq!(state["labels"]["states"]["paused"], "Jeda");

    // The static files: embedded, cached by hash.
    let js_path = page.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(js_path.starts_with("/static/wallboard.js?v="), "{js_path}");
    let r = agent().get(&format!("{base}{js_path}")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(agent().get(&format!("{base}{js_path}")).header("If-None-Match", &etag).call().unwrap().status(), 304);

    // A POST by cookie from another origin is refused; from ours, it logs out.
    assert_eq!(post_form(http, "/logout", "", Some("http://evil.example"), Some(&cookie)).status(), 403);
    let r = post_form(http, "/logout", "", Some(&base), Some(&cookie));
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));

    // An oversized form is refused; then ten wrong tokens in a row and the address waits.
    assert_eq!(post_form(http, "/login", &format!("token={}", "x".repeat(2000)), None, None).status(), 413);
    for _ in 0..9 {
        assert_eq!(post_form(http, "/login", "token=guess", None, None).status(), 401);
    }
    assert_eq!(post_form(http, "/login", &format!("token={token}"), None, None).status(), 429);
}

// ---------------------------------------------------------------- the event stream

/// One server-sent event as received: when, its name, its data.
#[derive(Debug, Clone)]
struct Received {
    at_ms: u64,
    event: String,
    data: String,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Opens `/api/v1/events` with a bearer token and reads it on a thread (HTTP/1.1
/// chunked, decoded here), each event stamped with the time it was read.
fn subscribe(http: SocketAddr, token: &str) -> (std::sync::mpsc::Receiver<Received>, TcpStream) {
    subscribe_after(http, token, None)
}

/// [`subscribe`], reconnecting after the event `last_id` (`Last-Event-ID`).
fn subscribe_after(http: SocketAddr, token: &str, last_id: Option<u64>) -> (std::sync::mpsc::Receiver<Received>, TcpStream) {
    subscribe_to(http, "/api/v1/events", token, last_id)
}

/// [`subscribe_after`] on `path` (with its query).
fn subscribe_to(http: SocketAddr, path: &str, token: &str, last_id: Option<u64>) -> (std::sync::mpsc::Receiver<Received>, TcpStream) {
    let mut s = TcpStream::connect(http).unwrap();
    let last = last_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n{last}\r\n").unwrap();
    let keep = s.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(s);
        let mut line = String::new();
        // The head.
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let mut pending = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let Ok(size) = usize::from_str_radix(line.trim(), 16) else { return };
            let mut chunk = vec![0u8; size + 2];
            if r.read_exact(&mut chunk).is_err() || size == 0 {
                return;
            }
            let at_ms = now_ms();
            pending.push_str(&String::from_utf8_lossy(&chunk[..size]));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_start().to_string());
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    if tx.send(Received { at_ms, event, data }).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (rx, keep)
}

/// Issue 15's acceptance: a SIPp caller bridged to a SIPp operator produces `queued`,
/// `operator_ringing` and `operator_answered` on the stream, in that order, each read
/// by the client within 50 ms of the time the engine task published it (`at_ms`).
///
/// The order is checked on every call; the latency is a measurement on two shared
/// cores, so a call whose three events all arrive within 50 ms passes it, out of at most
/// three (each call's lateness is printed). Without `TCP_NODELAY` every call was 40 to
/// 70 ms late and this failed three times out of three.
#[test]
fn wallboard_sse_delivers_queued_ringing_answered_in_order_within_50_ms() {
    // A latency measured on two shared cores: not while a load test runs.
    let _quiet = crate::harness::heavy();
    let (token, entry) = new_token("desk", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (gw, http) = gateway(&entry);
    let (id, _, pw) = OPERATORS[0];
    let (op_port, op_media) = register(&gw, id, pw);
    let (events, _stream) = subscribe(http, &token);
    // The registration's own operator event is on its way or past: start clean.
    std::thread::sleep(Duration::from_millis(300));
    while events.try_recv().is_ok() {}
    let mut lateness = Vec::new();
    for _ in 0..3 {
        let late = bridged_call_on_the_stream(&gw, &events, (op_port, op_media), id);
        eprintln!("queued, operator_ringing, operator_answered read {late:?} ms after the engine published them");
        lateness.push(late);
        if late.iter().all(|&ms| ms <= 50) {
            return;
        }
    }
    panic!("no call's events all read within 50 ms of at_ms: {lateness:?}");
}

/// One caller to 113 bridged to `operator`'s SIPp phone; checks the stream's events of
/// the call and returns how late `queued`, `operator_ringing` and `operator_answered`
/// were read, in milliseconds.
fn bridged_call_on_the_stream(gw: &Gateway, events: &std::sync::mpsc::Receiver<Received>, (op_port, op_media): (u16, u16), operator: &str) -> [u64; 3] {
    let target = gw.sip;
    let phone = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo"]));
    std::thread::sleep(Duration::from_millis(300));
    call_113(gw, &scenario("caller.xml"), 1000);
    let op = phone.join().unwrap();
    assert_eq!((op.exit_code, op.failed), (Some(0), 0), "operator: {}", op.stdout);

    let mut got: Vec<(Received, serde_json::Value)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while !got.iter().any(|(r, _)| r.event == "ended") && Instant::now() < end {
        if let Ok(r) = events.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&r.data).unwrap();
            got.push((r, v));
        }
    }
    let names: Vec<&str> = got.iter().map(|(r, _)| r.event.as_str()).collect();
    let seqs: Vec<u64> = got.iter().map(|(_, v)| v["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let pos = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no {name} in {names:?}"));
    assert!(pos("queued") < pos("operator_ringing") && pos("operator_ringing") < pos("operator_answered"), "{names:?}");
    assert_eq!(got[pos("queued")].1["queue"], "fire");
    assert_eq!(got[pos("operator_answered")].1["operator"], operator);
    ["queued", "operator_ringing", "operator_answered"].map(|name| {
        let (r, v) = &got[pos(name)];
        assert_eq!(v["caller"].as_str().map(|c| c.starts_with("08123")), Some(true), "{v}");
        r.at_ms.saturating_sub(v["at_ms"].as_u64().unwrap())
    })
}

/// A client that reconnects with `Last-Event-ID` is told how many events it missed
/// (a `lagged` event) before the next one: the wallboard then fetches its state again.
#[test]
fn wallboard_sse_a_reconnection_is_told_what_it_missed() {
    let (token, entry) = new_token("desk", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (gw, http) = gateway(&entry);
    let (first, _a) = subscribe(http, &token);
    let (id, _, pw) = OPERATORS[0];
    register(&gw, id, pw);
    // The login and the state change: events 1 and 2.
    let seen: Vec<Received> = (0..2).map(|_| first.recv_timeout(Duration::from_secs(5)).expect("the operator's events")).collect();
    assert_eq!(seen.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(), ["operator_login", "operator_state"]);
    // A client that saw event 0 only comes back; the next events are the pause (3, 4).
    let (again, _b) = subscribe_after(http, &token, Some(0));
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(["operators", "pause", id, "--socket"]).arg(gw.socket()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lagged = again.recv_timeout(Duration::from_secs(5)).expect("an event");
    assert_eq!((lagged.event.as_str(), lagged.data.as_str()), ("lagged", "{\"missed\":2}"));
    // The supervisor's action (named in the history), then the state it led to.
    let next = again.recv_timeout(Duration::from_secs(5)).expect("the pause");
    let v: serde_json::Value = serde_json::from_str(&next.data).unwrap();
    assert_eq!((next.event.as_str(), v["seq"].as_u64(), v["detail"].as_str()), ("operator_supervisor", Some(3), Some("pause by cli: supervisor")));
    let state = again.recv_timeout(Duration::from_secs(5)).expect("the new state");
    let v: serde_json::Value = serde_json::from_str(&state.data).unwrap();
    assert_eq!((state.event.as_str(), v["seq"].as_u64(), v["detail"].as_str()), ("operator_state", Some(4), Some("paused (supervisor)")));
}

/// `?coalesce=250`: at most one `changed` event per 250 ms, counting every event of
/// the full stream; the wallboard's script reads this one.
#[test]
fn wallboard_sse_coalesced_stream_counts_every_event_in_few_writes() {
    let (token, entry) = new_token("wall", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (gw, http) = gateway(&entry);
    let bad = agent().get(&format!("http://{http}/api/v1/events?coalesce=5")).header("Authorization", &format!("Bearer {token}")).call().unwrap();
    assert_eq!(bad.status(), 400);
    let (full, _a) = subscribe(http, &token);
    let (coalesced, _b) = subscribe_to(http, "/api/v1/events?coalesce=250", &token, None);
    std::thread::sleep(Duration::from_millis(200));
    let (id, _, pw) = OPERATORS[0];
    register(&gw, id, pw);
    for cmd in ["pause", "resume", "pause", "resume"] {
        let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(["operators", cmd, id, "--socket"]).arg(gw.socket()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let events: Vec<Received> = full.try_iter().filter(|r| !r.event.is_empty()).collect();
    let changes: Vec<Received> = coalesced.try_iter().filter(|r| r.event == "changed").collect();
    assert!(events.len() >= 10, "{:?}", events.iter().map(|r| &r.event).collect::<Vec<_>>());
    let counted: u64 = changes.iter().map(|r| serde_json::from_str::<serde_json::Value>(&r.data).unwrap()["events"].as_u64().unwrap()).sum();
    assert_eq!(counted, events.len() as u64, "every event counted once");
    assert!(changes.len() < events.len(), "{} changes for {} events", changes.len(), events.len());
    assert!(changes.windows(2).all(|w| w[1].at_ms >= w[0].at_ms + 200), "{:?}", changes.iter().map(|r| r.at_ms).collect::<Vec<_>>());
    let last: serde_json::Value = serde_json::from_str(&changes.last().unwrap().data).unwrap();
    let last_seq: u64 = serde_json::from_str::<serde_json::Value>(&events.last().unwrap().data).unwrap()["seq"].as_u64().unwrap();
    assert_eq!(last["seq"].as_u64(), Some(last_seq));
}

/// Past 64 open streams the next one gets 503, and a stream closed makes room.
#[test]
fn wallboard_sse_streams_are_capped() {
    let (token, entry) = new_token("many", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (_gw, http) = gateway(&entry);
    let open = |token: &str| {
        let mut s = TcpStream::connect(http).unwrap();
        write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {token}\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).into_owned(), s)
    };
    let (status, _) = open("wrong");
    assert_eq!(status, "HTTP/1.1 401");
    let mut streams: Vec<TcpStream> = (0..64).map(|_| open(&token)).map(|(st, s)| {
        assert_eq!(st, "HTTP/1.1 200");
        s
    }).collect();
    let (status, _) = open(&token);
    assert_eq!(status, "HTTP/1.1 503");
    drop(streams.pop());
    // The server sees the close when it next writes to it (the keep-alive comment).
    wait_until(Duration::from_secs(40), "room for a stream again", || open(&token).0 == "HTTP/1.1 200");
}

/// A caller on a raw UDP socket, so that the test hangs up when it chooses: INVITE to
/// 113 (straight to `fire`), ACK, and later BYE.
struct RawCaller {
    sock: std::net::UdpSocket,
    _rtp: std::net::UdpSocket,
    gw: SocketAddr,
    local: SocketAddr,
    contact: String,
    to: String,
    from: String,
    call_id: String,
}

impl RawCaller {
    fn call(gw: SocketAddr, number: &str, name: &str) -> RawCaller {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let call_id = format!("wallboard-{}@127.0.0.1", local.port());
        let from = format!("From: \"{name}\" <sip:{number}@{local}>;tag=wb{}", local.port());
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            rtp.local_addr().unwrap().port()
        );
        let invite = format!(
            "INVITE sip:113@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKwb1\r\nMax-Forwards: 70\r\n{from}\r\nTo: <sip:113@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{number}@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        sock.send_to(invite.as_bytes(), gw).unwrap();
        let ok = loop {
            let m = recv(&sock);
            if m.starts_with("SIP/2.0 200") {
                break m;
            }
            assert!(m.starts_with("SIP/2.0 1"), "the INVITE was not answered: {m}");
        };
        let header = |name: &str| ok.lines().find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase()))).unwrap().to_string();
        let contact = header("Contact").split('<').nth(1).and_then(|c| c.split('>').next()).unwrap().to_string();
        let to = header("To");
        let caller = RawCaller { sock, _rtp: rtp, gw, local, contact, to, from, call_id };
        caller.request("ACK", 1, "wb2");
        caller
    }

    fn request(&self, method: &str, cseq: u32, branch: &str) {
        let m = format!(
            "{method} {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n{}\r\n{}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            self.contact, self.local, self.from, self.to, self.call_id
        );
        self.sock.send_to(m.as_bytes(), self.gw).unwrap();
    }

    /// BYE, answered 200.
    fn hang_up(&self) {
        self.request("BYE", 2, "wb3");
        loop {
            let m = recv(&self.sock);
            if m.starts_with("SIP/2.0 200") && m.contains("BYE") {
                return;
            }
        }
    }
}

fn recv(sock: &std::net::UdpSocket) -> String {
    let mut buf = [0u8; 8192];
    let n = sock.recv(&mut buf).expect("an answer from the gateway");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

// ---------------------------------------------------------------- the browser

/// chromedriver on a free port of 127.0.0.1, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver and Chromium, if installed (Debian: `chromedriver` and
/// `/usr/bin/chromium`).
fn browser_installed() -> bool {
    Command::new("chromedriver").arg("--version").output().is_ok_and(|o| o.status.success()) && Path::new("/usr/bin/chromium").exists()
}

fn start_driver() -> Driver {
    let port = free_ports(1);
    let child = Command::new("chromedriver").arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let driver = Driver { child, port, _profile: tempfile::tempdir().unwrap() };
    wait_until(Duration::from_secs(10), "chromedriver listening", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    driver
}

async fn text_of(c: &fantoccini::Client, css: &str) -> String {
    match c.find(fantoccini::Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls the page (no reload) until `css`'s text is `want`, up to `limit`; the
/// error has the page's source.
async fn wait_text(c: &fantoccini::Client, css: &str, want: &str, limit: Duration) -> Result<(), String> {
    let end = Instant::now() + limit;
    loop {
        let now = text_of(c, css).await;
        if now == want {
            return Ok(());
        }
        if Instant::now() > end {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = c.source().await.unwrap_or_default();
            return Err(format!("{css}: {now:?}, not {want:?}, after {limit:?} at {url}:\n{source}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 15's acceptance, in headless Chromium: with 5 SIPp callers waiting in `fire`
/// (one of them named `<script>alert(1)</script>`), one fire operator paused and the
/// other not registered, the page (after logging in through the form) shows 5 waiting
/// in fire, the paused operator as paused, the script's name as text (no alert), then 4
/// within 5 s of one caller's hang-up, without a reload. A screenshot goes to
/// target/artifacts/wallboard.png.
#[test]
fn wallboard_in_a_real_browser_shows_the_callers_waiting_and_follows_a_hang_up() {
    if !browser_installed() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and chromium/chromium-driver are not installed: .ci/run must install them");
        let _ = writeln!(std::io::stdout(), "SKIPPED: chromium or chromedriver is not installed (apt-get install -y chromium chromium-driver); the wallboard was not tested in a browser");
        return;
    }
    // A browser is load of its own: not beside the load tests (nor they beside it).
    let _quiet = crate::harness::heavy();
    let (token, entry) = new_token("wall screen", Role::Viewer, &mut rand::rngs::OsRng).unwrap();
    let (gw, http) = gateway(&entry);
    let dir = tempfile::tempdir().unwrap();

    // The shift so far: op-dewi answers one call, then the supervisor pauses her.
    let (id, _, pw) = OPERATORS[0];
    let (op_port, op_media) = register(&gw, id, pw);
    let target = gw.sip;
    let operator = std::thread::spawn(move || sipp_from(target, op_port, op_media, &["-sf", scenario("operator_answer.xml").to_str().unwrap(), "-m", "1", "-rtp_echo"]));
    std::thread::sleep(Duration::from_millis(300));
    let answered = caller_scenario(dir.path(), "answered.xml", "0811", "Budi");
    call_113(&gw, &answered, 1500);
    assert_eq!(operator.join().unwrap().exit_code, Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(["operators", "pause", id, "--reason", "istirahat", "--socket"]).arg(gw.socket()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Five callers wait in fire: three SIPp callers and the script-named one on the line
    // for two minutes, and one on a raw socket who gives up when the browser has seen
    // the five.
    let waiting = caller_scenario(dir.path(), "waiting.xml", "08123", "Warga");
    let script = caller_scenario(dir.path(), "script.xml", "08129", SCRIPT_NAME);
    let _callers = Reap(vec![spawn_callers(&gw, &waiting, 3, 120_000), spawn_callers(&gw, &script, 1, 120_000)]);
    let leaving = RawCaller::call(gw.sip, "0812770001", "Rina");
    wait_until(Duration::from_secs(10), "5 waiting in fire", || fire(&board(http, &token))["waiting"] == 5);
    let state = fire(&board(http, &token));
    let names: Vec<&str> = state["callers"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&SCRIPT_NAME), "the API gives the name as sent, as a JSON string: {names:?}");

    let driver = start_driver();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let shot = rt.block_on(async {
        let mut caps = serde_json::Map::new();
        let profile = driver._profile.path().display().to_string();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1920,1080", "--hide-scrollbars", format!("--user-data-dir={profile}")]
            }),
        );
        let c = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session");
        let result = browse(&c, http, &token, &leaving).await;
        let shot = c.screenshot().await;
        // The same board on a laptop's narrow window: one column.
        let narrow = match c.set_window_size(800, 900).await {
            Ok(()) => c.screenshot().await.ok(),
            Err(_) => None,
        };
        let _ = c.close().await;
        result.map(|()| (shot.unwrap(), narrow))
    });
    drop(driver);
    let (png, narrow) = shot.unwrap_or_else(|e| panic!("{e}\n{}", gw.log()));
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let path = artifacts.join("wallboard.png");
    std::fs::write(&path, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    println!("wallboard screenshot: {}", path.display());
    if let Some(narrow) = narrow {
        let path = artifacts.join("wallboard-narrow.png");
        std::fs::write(&path, narrow).unwrap();
        println!("wallboard screenshot, a laptop's narrow window: {}", path.display());
    }
}

/// The browser's part: log in through the form, check the board, see it follow a
/// hang-up. An error names what was not seen.
async fn browse(c: &fantoccini::Client, http: SocketAddr, token: &str, leaving: &RawCaller) -> Result<(), String> {
    use fantoccini::Locator;
    // In Indonesian (the browser asks for English: `Accept-Language: en-US`).
    c.goto(&format!("http://{http}/?lang=id")).await.map_err(|e| e.to_string())?;
    let field = c.find(Locator::Id("token")).await.map_err(|e| format!("no login form: {e}"))?;
    field.send_keys(token).await.map_err(|e| e.to_string())?;
    c.find(Locator::Id("login-submit")).await.map_err(|e| e.to_string())?.click().await.map_err(|e| e.to_string())?;
    // The server-rendered board, then the script's own drawing ("Langsung": the stream is up).
    wait_text(c, "#dept-fire .waiting", "5", Duration::from_secs(10)).await?;
    wait_text(c, "#status", "Langsung", Duration::from_secs(10)).await?;
    wait_text(c, "#dept-fire .waiting", "5", Duration::from_secs(5)).await?;
    // The paused operator, with her reason; the other one offline.
    let dewi = c.find(Locator::Css("#op-op-dewi")).await.map_err(|e| format!("no op-dewi: {e}"))?;
    let state = dewi.attr("data-state").await.map_err(|e| e.to_string())?;
    let text = dewi.text().await.map_err(|e| e.to_string())?;
    if state.as_deref() != Some("paused") || !text.contains("Jeda") || !text.contains("istirahat") {
        return Err(format!("op-dewi shows {state:?} {text:?}"));
    }
    let sari = c.find(Locator::Css("#op-op-sari")).await.map_err(|e| e.to_string())?.attr("data-state").await.map_err(|e| e.to_string())?;
    if sari.as_deref() != Some("offline") {
        return Err(format!("op-sari shows {sari:?}"));
    }
    // The script-named caller is text on the page: no alert, no script run, the literal
    // name visible.
    if let Ok(alert) = c.get_alert_text().await {
        return Err(format!("an alert opened: {alert:?}"));
    }
    let mut names = Vec::new();
    for e in c.find_all(Locator::Css("#dept-fire .caller .name")).await.map_err(|e| e.to_string())? {
        names.push(e.text().await.map_err(|e| e.to_string())?);
    }
    if !names.iter().any(|n| n == SCRIPT_NAME) {
        return Err(format!("the script-named caller is not shown as text: {names:?}"));
    }
    let scripts = c.execute("return document.scripts.length", vec![]).await.map_err(|e| e.to_string())?;
    if scripts != serde_json::json!(1) {
        return Err(format!("{scripts} script elements, not 1"));
    }
    // The viewport of a wall screen, 1920 x 1080 (for the screenshot).
    let chrome = c.execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![]).await.map_err(|e| e.to_string())?;
    let extra = |i: usize| chrome[i].as_u64().unwrap_or(0) as u32;
    c.set_window_size(1920 + extra(0), 1080 + extra(1)).await.map_err(|e| e.to_string())?;
    // A marker that a reload would clear, then a caller gives up.
    c.execute("window.cc112Marker = 42; return 1", vec![]).await.map_err(|e| e.to_string())?;
    leaving.hang_up();
    wait_text(c, "#dept-fire .waiting", "4", Duration::from_secs(5)).await?;
    let marker = c.execute("return window.cc112Marker || 0", vec![]).await.map_err(|e| e.to_string())?;
    if marker != serde_json::json!(42) {
        return Err("the page was reloaded".into());
    }
    // The shift's figures have caught up (read every 3 s): one answered, one abandoned;
    // by priority class (issue 16), both normal: 1 of 2 within 15 s.
    wait_text(c, "#stat-abandoned .big", "1", Duration::from_secs(10)).await?;
    wait_text(c, "#stat-classes .class-normal th", "Biasa", Duration::from_secs(5)).await?;
    wait_text(c, "#stat-classes .class-normal td", "50 % (1/2)", Duration::from_secs(5)).await?;
    Ok(())
}
