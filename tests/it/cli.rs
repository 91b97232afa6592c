//! The `cc112` command line: check-config as an admin uses it.

use std::path::Path;
use std::process::Command;

fn cc112(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cc112")).args(args).output().expect("run cc112");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_config_reports_all_three_mistakes_with_paths_and_fails() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config/invalid_three_mistakes.toml");
    let (code, _, err) = cc112(&["check-config", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    let first = std::fs::read_to_string(&file).unwrap();
    let expected: Vec<&str> = first
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect:"))
        .expect("fixture announces its errors")
        .split(',')
        .map(|e| e.trim().split('@').next().unwrap())
        .collect();
    assert_eq!(expected.len(), 3);
    for path in &expected {
        assert!(err.contains(&format!(": {path}: ")), "missing {path} in:\n{err}");
    }
    assert!(err.contains("3 problem(s)"), "{err}");
}

#[test]
fn check_config_summarises_a_good_file() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cc112.toml");
    let (code, out, err) = cc112(&["check-config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK"), "{out}");
    assert!(out.contains("112"), "summary names the emergency numbers: {out}");
}

#[test]
fn check_config_on_a_missing_file_fails_with_its_name() {
    let (code, _, err) = cc112(&["check-config", "/nonexistent/cc112.toml"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/cc112.toml"), "{err}");
}

/// Issue 13, point 5: `cc112 operator-hash` asks for the password at a terminal with the
/// echo off, so it is not left on the screen (or in a terminal recording). The password
/// is typed into a real pseudo-terminal after the prompt (Python's `pty`), as a person
/// would.
#[test]
fn operator_hash_does_not_echo_the_password_typed_at_a_terminal() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pty/operator_hash.py");
    let out = Command::new("python3")
        .args([script.to_str().unwrap(), env!("CARGO_BIN_EXE_cc112"), "hunter2-secret"])
        .output()
        .expect("python3");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("password for budi@"), "{screen}");
    assert!(screen.contains("ha1_sha256"), "the entry was printed: {screen}");
    assert!(!screen.contains("hunter2-secret"), "the password was echoed: {screen}");
    // Piped (scripts), it still reads a line from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cc112"))
        .args(["operator-hash", "budi"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"hunter2-secret\n").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&piped.stdout).contains("ha1_sha256"));
}

/// `cc112 http-token`: a new token each time, printed once with an entry that a config
/// accepts and that holds only the token's SHA-256.
#[test]
fn http_token_prints_a_new_token_and_an_entry_that_loads_with_its_hash() {
    let (code, out1, err) = cc112(&["http-token", "wallboard-1", "--role", "supervisor"]);
    assert_eq!(code, 0, "{err}");
    let (_, out2, _) = cc112(&["http-token", "wallboard-1"]);
    let token = |out: &str| out.lines().nth(1).and_then(|l| l.strip_prefix("# ")).expect("the token on line 2").to_string();
    let (t1, t2) = (token(&out1), token(&out2));
    assert_ne!(t1, t2, "two runs print the same token");
    assert!(t1.starts_with("cc112_") && t1.len() == 70, "{t1}");
    let entry: String = out1.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    assert!(!entry.contains(&t1), "the entry holds the token itself:\n{entry}");
    let config = cc112::config::Config::from_toml(&entry, "t.toml").expect("the printed entry loads");
    let tok = &config.http.tokens[0];
    assert_eq!((tok.name.as_str(), tok.role), ("wallboard-1", cc112::config::Role::Supervisor));
    assert_eq!(tok.sha256, cc112::config::token_sha256(&t1));
    assert!(out2.contains("role = \"viewer\""), "{out2}");
    let (code, _, err) = cc112(&["http-token", ""]);
    assert_ne!(code, 0, "an empty name is refused: {err}");
}
