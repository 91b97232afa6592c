//! A throwaway PostgreSQL cluster for the tests of the central view: `initdb` in a
//! temporary directory, the server on 127.0.0.1 with a free port and its unix socket in
//! that directory, stopped (and the directory removed) when dropped.
//!
//! PostgreSQL refuses to run as root: as root the server's commands run as the
//! `postgres` user (`runuser`), which owns the directory. The binaries are found with
//! `ls /usr/lib/postgresql/*/bin` (the newest version), so no version is hard-coded.
//! Without them [`Pg::start`] prints SKIPPED and returns `None`, except when `CI=true`,
//! where it fails the test (`.ci/run` installs the Debian package `postgresql`).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::harness::free_ports;

/// The newest installed `/usr/lib/postgresql/<version>/bin` with an `initdb`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

/// A running throwaway cluster; stopped and removed when dropped.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    running: bool,
}

fn as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Pg {
    /// initdb + start. `None` (after printing `SKIPPED <test>`) when PostgreSQL is not
    /// installed, unless `CI=true`.
    pub fn start(test: &str) -> Option<Pg> {
        let Some(bin) = bin_dir() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does this)");
            println!("SKIPPED {test}: PostgreSQL is not installed (apt-get install -y postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        if as_root() {
            let ok = Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir.path()).status().expect("chown");
            assert!(ok.success(), "chown the cluster's directory to postgres");
        }
        let pg = Pg { port: free_ports(1), dir, bin, running: false };
        let data = pg.data();
        pg.run_ok("initdb", &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let mut pg = pg;
        pg.start_again();
        pg.psql_db("postgres", "CREATE DATABASE cc112");
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// `postgres://postgres@127.0.0.1:PORT/cc112` (trust authentication, no password).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/cc112", self.port)
    }

    /// Runs one of the cluster's commands as the user owning it; its output.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(self.dir.path()).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn run_ok(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.run(tool, args);
        assert!(out.status.success(), "{tool} {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Starts the server (again, after [`Pg::stop`]); waits until it takes connections.
    pub fn start_again(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("log");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        self.run_ok("pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &opts, "-w", "-t", "30", "start"]);
        self.running = true;
    }

    /// Stops the server (fast: connections are cut, as in a crash of the service).
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data();
            self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "-t", "30", "stop"]);
            self.running = false;
        }
    }

    /// One SQL statement in database `cc112`: its rows, `|`-separated, one per line.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("cc112", sql)
    }

    fn psql_db(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A number the query returns (`0` when the table does not exist yet).
    pub fn count(&self, sql: &str) -> i64 {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "cc112", "-At", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }

    /// Polls `pred` every 100 ms for at most `timeout`; how long it took to hold.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&Pg) -> bool) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if pred(self) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "-t", "30", "stop"]);
        }
    }
}
