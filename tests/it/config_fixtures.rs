//! Every sample config is a test: `fixtures/config/valid_*.toml` must load, and each
//! `invalid_*.toml` must fail exactly as its first line announces:
//!
//! ```toml
//! # expect: sip.listen_udp[1]@3, media.port_min@18
//! ```
//!
//! i.e. the exact list of `path@line` the errors carry, in order. A fixture whose
//! errors drift (another path, another line, an extra error) fails the test.

use std::fs;
use std::path::{Path, PathBuf};

use cc112::config::{Config, ConfigErrors, DEFAULT_TOML};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config")
}

fn fixtures(prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("reading fixtures/config: {e}"))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".toml")
        })
        .collect();
    out.sort();
    out
}

/// The `path@line` list announced on the first line of an invalid fixture.
fn expectations(path: &Path) -> Vec<(String, usize)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = text.lines().next().unwrap_or("");
    let list = first.strip_prefix("# expect:").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: path@line, ...`",
            path.display()
        )
    });
    list.split(',')
        .map(|item| {
            let (p, line) = item
                .trim()
                .rsplit_once('@')
                .unwrap_or_else(|| panic!("{}: `{item}` is not path@line", path.display()));
            let line = line
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad line in `{item}`", path.display()));
            (p.to_string(), line)
        })
        .collect()
}

fn load_err(path: &Path) -> ConfigErrors {
    match Config::load(path) {
        Ok(c) => panic!(
            "{} loaded but should fail:\n{}",
            path.display(),
            c.summary()
        ),
        Err(e) => e,
    }
}

#[test]
fn every_valid_fixture_loads() {
    let files = fixtures("valid_");
    assert!(files.len() >= 8, "valid fixtures missing: {files:?}");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| Config::load(f).err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "valid fixtures failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_invalid_fixture_fails_as_announced() {
    let files = fixtures("invalid_");
    assert!(files.len() >= 60, "invalid fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let expected = expectations(file);
        let err = load_err(file);
        let got: Vec<(String, usize)> = err
            .errors
            .iter()
            .map(|e| (e.path.clone(), e.line.unwrap_or(0)))
            .collect();
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?}\n{err}",
                file.display()
            ));
            continue;
        }
        // The rendered form is what admins see; it must point at file, line and key.
        let shown = err.to_string();
        for (path, line) in &expected {
            let prefix = format!("{}:{line}: {path}: ", file.display());
            if !shown.lines().any(|l| l.starts_with(&prefix)) {
                failures.push(format!(
                    "{}: no line starting {prefix:?} in:\n{shown}",
                    file.display()
                ));
            }
        }
        if shown.lines().count() != expected.len() {
            failures.push(format!(
                "{}: expected one line per error:\n{shown}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn three_mistakes_reported_in_one_pass() {
    let err = load_err(&fixtures_dir().join("invalid_three_mistakes.toml"));
    let got: Vec<(&str, Option<usize>)> = err
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.line))
        .collect();
    assert_eq!(
        got,
        [
            ("sip.listen_udp[0]", Some(5)),
            ("emergency.numbers[1].number", Some(14)),
            ("media.port_min", Some(18)),
        ],
        "{err}"
    );
    assert!(err.errors[0].message.contains("port is missing"), "{err}");
    assert!(
        err.errors[1]
            .message
            .contains("\"11O\" is not a dialable number"),
        "{err}"
    );
    assert!(err.errors[2].message.contains("10001 is odd"), "{err}");
}

#[test]
fn embedded_default_equals_shipped_file() {
    let embedded = Config::embedded_default().unwrap_or_else(|e| panic!("{e}"));
    let on_disk = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cc112.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(embedded, on_disk);
    assert_eq!(embedded.version.len(), 12);
}

#[test]
fn shipped_file_shows_every_default() {
    // The shipped file documents the defaults; loading it must equal loading nothing.
    let shipped = Config::embedded_default().unwrap_or_else(|e| panic!("{e}"));
    let empty = Config::from_toml("", "empty").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped.sip, empty.sip);
    assert_eq!(shipped.emergency, empty.emergency);
    assert_eq!(shipped.media, empty.media);
    assert_eq!(shipped.routing, empty.routing);
}

/// Loads `text` and asserts exactly one error: an unknown key at `path`.
fn assert_unknown_key(text: &str, path: &str) {
    assert_stray_key(text, path, "unknown key");
}

/// Loads `text` and asserts exactly one error at `path` whose message has `needle`.
fn assert_stray_key(text: &str, path: &str, needle: &str) {
    let err = match Config::from_toml(text, "t.toml") {
        Ok(_) => panic!("stray key at {path} accepted:\n{text}"),
        Err(e) => e,
    };
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].path, path, "{err}");
    assert!(err.errors[0].line.is_some(), "{err}");
    assert!(err.errors[0].message.contains(needle), "{err}");
}

/// Tables whose keys are names the admin chooses (languages, prompt ids, menu ids)
/// are maps, so a stray key there is refused by type or by validation, not as an
/// "unknown key"; the rejection message expected for `no_such_key = 1` in each.
fn stray_key_message(path: &str) -> &'static str {
    if path == "ivr.prompts" {
        "expected a map"
    } else if path.starts_with("ivr.prompts.") {
        "expected a string"
    } else if path == "ivr.menus" {
        "expected a table"
    } else {
        "unknown key"
    }
}

macro_rules! unknown_key_rejected {
    ($($name:ident: $text:expr => $path:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_unknown_key($text, $path);
        }
    )*};
}

unknown_key_rejected! {
    unknown_key_rejected_at_top_level: "colour = \"red\"\n" => "colour";
    unknown_key_rejected_in_sip: "[sip]\nno_such_key = 1\n" => "sip.no_such_key";
    unknown_key_rejected_in_emergency: "[emergency]\nno_such_key = 1\n" => "emergency.no_such_key";
    unknown_key_rejected_in_emergency_numbers:
        "[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"x\"\nno_such_key = 1\n"
        => "emergency.numbers[0].no_such_key";
    unknown_key_rejected_in_media: "[media]\nno_such_key = 1\n" => "media.no_such_key";
    unknown_key_rejected_in_routing: "[routing]\nno_such_key = 1\n" => "routing.no_such_key";
    unknown_key_rejected_in_routing_direct:
        "[routing]\ndirect = [{ number = \"110\", queue = \"public_order\", no_such_key = 1 }]\n"
        => "routing.direct[0].no_such_key";
    unknown_key_rejected_in_ivr: "[ivr]\nno_such_key = 1\n" => "ivr.no_such_key";
    unknown_key_rejected_in_ivr_menu:
        "[ivr.menus.main]\nprompt = \"menu_main\"\nno_such_key = 1\n" => "ivr.menus.main.no_such_key";
    unknown_key_rejected_in_ivr_menu_option:
        "[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", queue = \"medical\", no_such_key = 1 }]\n"
        => "ivr.menus.main.options[0].no_such_key";
    unknown_key_rejected_in_queues:
        "[[queues]]\nid = \"general\"\nname = \"x\"\nno_such_key = 1\n" => "queues[0].no_such_key";
    unknown_key_rejected_in_queue_time_rule:
        "[[queues]]\nid = \"general\"\nname = \"x\"\nopen = [{ from = \"07:00\", until = \"15:00\", no_such_key = 1 }]\n"
        => "queues[0].open[0].no_such_key";
    unknown_key_rejected_in_store: "[store]\nno_such_key = 1\n" => "store.no_such_key";
    unknown_key_rejected_in_store_shifts:
        "[store]\nshifts = [{ name = \"a\", start = \"07:00\", end = \"07:00\", no_such_key = 1 }]\n" => "store.shifts[0].no_such_key";
}

/// Guards the tables added later (issue 3): every table and array-of-tables entry in
/// the shipped file gets a stray key, and each must be rejected at its own path.
#[test]
fn unknown_key_rejected_in_every_shipped_table() {
    fn tables(value: &toml::Table, path: String, out: &mut Vec<String>) {
        out.push(path.clone());
        for (key, v) in value {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match v {
                toml::Value::Table(t) => tables(t, here, out),
                toml::Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let toml::Value::Table(t) = item {
                            tables(t, format!("{here}[{i}]"), out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    fn table_at<'a>(doc: &'a mut toml::Table, path: &str) -> &'a mut toml::Table {
        let mut cur = doc;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (key, index) = match part.split_once('[') {
                Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            let v = cur.get_mut(key).unwrap_or_else(|| panic!("no {key}"));
            cur = match (v, index) {
                (toml::Value::Table(t), None) => t,
                (toml::Value::Array(a), Some(i)) => match a.get_mut(i) {
                    Some(toml::Value::Table(t)) => t,
                    _ => panic!("no table at {path}"),
                },
                _ => panic!("no table at {path}"),
            };
        }
        cur
    }

    let doc: toml::Table = toml::from_str(DEFAULT_TOML).unwrap_or_else(|e| panic!("{e}"));
    let mut paths = Vec::new();
    tables(&doc, String::new(), &mut paths);
    assert!(paths.len() >= 4, "{paths:?}");
    for path in paths {
        let mut changed = doc.clone();
        table_at(&mut changed, &path).insert("no_such_key".into(), toml::Value::Integer(1));
        let text = toml::to_string(&changed).unwrap_or_else(|e| panic!("{e}"));
        let expected = if path.is_empty() {
            "no_such_key".to_string()
        } else {
            format!("{path}.no_such_key")
        };
        assert_stray_key(&text, &expected, stray_key_message(&path));
    }
}

#[test]
fn shipped_summary_shows_menu_and_queues() {
    let c = Config::embedded_default().unwrap_or_else(|e| panic!("{e}"));
    let s = c.summary();
    for needle in [
        "languages id, en",
        "menu main (root): 1 medical, 2 fire, 3 public_order, 4 public_works, 5 social, \
         6 transport, 9 language en, 0 general, * repeat",
        "110 -> public_order",
        "119 -> medical",
        "queues (UTC+07:00): medical, fire, public_order, public_works, social, transport, general",
    ] {
        assert!(s.contains(needle), "summary lacks {needle:?}:\n{s}");
    }
    println!("{s}");
}
