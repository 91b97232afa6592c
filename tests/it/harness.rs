//! Starting the real `cc112` binary on loopback, and running SIPp against it.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shared corpora, read in place (never copied into the repo).
pub fn corpora() -> PathBuf {
    std::env::var_os("CC112_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"))
}

/// Ports for this test process, from two disjoint ranges so that they can never meet:
/// media blocks for gateways (20000–44999, not checked: a gateway skips a busy port) and
/// single SIP/SIPp ports (45000–59999, each checked free). Both wrap around.
static NEXT_MEDIA: AtomicU16 = AtomicU16::new(0);
static NEXT_SIGNAL: AtomicU16 = AtomicU16::new(0);

fn next_in(counter: &AtomicU16, low: u32, span: u32, count: u16) -> u16 {
    let start = (std::process::id() % 20) * (span / 20);
    loop {
        let n = u32::from(counter.fetch_add(count, Ordering::SeqCst));
        let base = low + (start + n) % span;
        if base + u32::from(count) <= low + span {
            return base as u16;
        }
    }
}

/// `count` consecutive ports, each free when checked (SIP listeners, SIPp).
pub fn free_ports(count: u16) -> u16 {
    loop {
        let base = next_in(&NEXT_SIGNAL, 45_000, 15_000, count);
        let all_free = (base..base + count).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return base;
        }
    }
}

/// A block for a gateway's RTP ports (not checked free).
pub fn reserve_ports(count: u16) -> u16 {
    next_in(&NEXT_MEDIA, 20_000, 25_000, count)
}

/// Held by the tests that put real load on the machine (hundreds of SIPp calls, a
/// hundred concurrent media streams), so that they never overlap: on two shared cores,
/// overlapping load tests starve SIPp and the gateway alike and measure nothing.
static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running gateway process; killed when dropped.
pub struct Gateway {
    child: Child,
    pub sip: SocketAddr,
    pub config_path: PathBuf,
    pub db: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    /// Environment the process is started with (a supervisor's NOTIFY_SOCKET...).
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    pub fn start() -> Gateway {
        Gateway::start_with("")
    }

    /// Start on fresh 127.0.0.1 ports; `sip_extra` lines go into the `[sip]` table.
    pub fn start_with(sip_extra: &str) -> Gateway {
        Gateway::start_with_tables(sip_extra, "")
    }

    /// [`start_with`](Self::start_with), and `tables` (whole tables, e.g. `[http]`)
    /// at the end of the config.
    pub fn start_with_tables(sip_extra: &str, tables: &str) -> Gateway {
        let port = free_ports(1);
        // Room for 500 concurrent calls. Not checked free one by one: a port another
        // process holds is skipped by the gateway itself.
        let media = reserve_ports(1002);
        let media = media + media % 2; // RTP ports are even
        let toml = format!(
            "[sip]\nlisten_udp = [\"127.0.0.1:{port}\"]\nlisten_tcp = [\"127.0.0.1:{port}\"]\n{sip_extra}\n\n[media]\naddress = \"127.0.0.1\"\nport_min = {media}\nport_max = {}\n\n{tables}\n",
            media + 999
        );
        Gateway::start_config(&toml, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Start on a whole config text; `sip` is the address it listens on.
    pub fn start_config(toml: &str, sip: SocketAddr) -> Gateway {
        Gateway::start_config_env(toml, sip, &[])
    }

    /// [`Gateway::start_config`] with these environment variables set.
    pub fn start_config_env(toml: &str, sip: SocketAddr, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("cc112.toml");
        let db = dir.path().join("cc112.db");
        // Each gateway keeps its records in its own directory.
        // A [store] table without a path (e.g. only `central`) gets this directory's.
        let toml = if toml.contains("[store]\ncentral") { toml.replacen("[store]\n", &format!("[store]\npath = \"{}\"\n", db.display()), 1) } else { toml.to_string() };
        let toml = if toml.contains("[store]") { toml } else { format!("{toml}\n[store]\npath = \"{}\"\n", db.display()) };
        // No HTTP server unless the test asks for one (the default port is shared).
        let toml = if toml.contains("[http]") { toml } else { format!("{toml}\n[http]\nlisten = []\n") };
        std::fs::write(&config_path, toml).expect("write config");
        // The shipped prompts sit next to the config, as in a real installation.
        #[cfg(unix)]
        std::os::unix::fs::symlink(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts"), dir.path().join("prompts")).expect("link prompts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let child = spawn(&config_path, &lines, &env);
        let gw = Gateway { child, sip, config_path, db, lines, env, _dir: dir };
        assert!(gw.wait_for(|l| l.contains("SIP listening"), Duration::from_secs(20)), "gateway did not start:\n{}", gw.log());
        gw
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Log lines as JSON objects whose `fields.event` equals `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["event"] == event)
            .collect()
    }

    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.lines.lock().unwrap().iter().any(|l| pred(l)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Wait until at least `n` events of a kind were logged.
    pub fn wait_events(&self, event: &str, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.events(event).len() >= n {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no flush, no goodbye — what a power cut or an OOM kill does.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send a signal by name (`TERM`, `INT`, `HUP`) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "kill -{name} {}", self.pid());
    }

    /// Wait at most `timeout` for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The control socket next to the database.
    pub fn socket(&self) -> PathBuf {
        self.db.with_extension("sock")
    }

    /// `cc112 <command> --socket <ours>`: (exit code, stdout).
    pub fn cli(&self, command: &str) -> (Option<i32>, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_cc112")).arg(command).arg("--socket").arg(self.socket()).output().expect("run cc112");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Start again on the same config and database; waits until it listens again.
    pub fn restart(&mut self) {
        let before = self.lines.lock().unwrap().iter().filter(|l| l.contains("SIP listening")).count();
        self.child = spawn(&self.config_path, &self.lines, &self.env);
        let end = Instant::now() + Duration::from_secs(20);
        while self.lines.lock().unwrap().iter().filter(|l| l.contains("SIP listening")).count() <= before {
            assert!(Instant::now() < end, "gateway did not restart:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start `cc112 run --config` with JSON logs collected into `lines`.
fn spawn(config_path: &Path, lines: &Arc<Mutex<Vec<String>>>, env: &[(String, String)]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cc112"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(config_path)
        // Only what the test gives: never the test runner's own supervisor.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("CC112_TEST_FAULTS")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cc112");
    let stderr = child.stderr.take().expect("stderr");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    child
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIPp started in the background against `target` (output discarded): for calls held
/// open while something else happens; the test kills it.
pub fn sipp_child(target: SocketAddr, args: &[&str]) -> Child {
    let (port, media) = (free_ports(1).to_string(), free_ports(4).to_string());
    Command::new("sipp")
        .arg(target.to_string())
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port, "-mp", &media, "-nostdin", "-timeout", "120s"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is not installed: apt-get install -y sip-tester (.ci/run does this)")
}

/// What one SIPp run reported.
#[derive(Debug)]
pub struct Sipp {
    pub exit_code: Option<i32>,
    pub successful: u64,
    pub failed: u64,
    pub stdout: String,
    pub stderr: String,
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(name)
}

/// Run SIPp against the gateway, bounded in calls (`-m`) and time (`-timeout`).
/// `args` come after the common ones (scenario, keys, `-t t1` for TCP...).
pub fn sipp(gw: &Gateway, args: &[&str]) -> Sipp {
    sipp_to(gw.sip, args)
}

/// [`sipp`] against an address (for a SIPp run that outlives a gateway process).
pub fn sipp_to(target: SocketAddr, args: &[&str]) -> Sipp {
    sipp_from(target, free_ports(1), free_ports(4), args)
}

/// [`sipp_to`] from a given SIP port and media port (an operator phone answers on
/// the port it registered from).
pub fn sipp_from(target: SocketAddr, port: u16, media: u16, args: &[&str]) -> Sipp {
    let port = port.to_string();
    let media = media.to_string();
    let out = Command::new("sipp")
        .arg(target.to_string())
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port, "-mp", &media])
        .args(["-nostdin", "-timeout", "90s", "-timeout_error", "-max_recv_loops", "10000"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sipp is not installed: apt-get install -y sip-tester (.ci/run does this)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let count = |label: &str| {
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(label))
            .filter_map(|l| l.split('|').nth(2).and_then(|c| c.trim().parse::<u64>().ok()))
            .next_back()
            .unwrap_or(0)
    };
    Sipp {
        exit_code: out.status.code(),
        successful: count("Successful call"),
        failed: count("Failed call"),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
