//! The configuration loader (`cc112::config::Config::from_toml`) on any text, as an
//! administrator's file or a reload reaches it.
//!
//! Checks, beyond "no panic":
//! - the same text gives the same result twice (a reload of an unchanged file changes
//!   nothing), and a valid plan's summary can be printed;
//! - a refused file has at least one error, each with a message and a line that exists
//!   in the file, and `check-config` prints exactly one line per error (the
//!   `{origin}:{line}: {path}: {message}` shape editors jump by).
#![no_main]

use cc112::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let first = Config::from_toml(text, "fuzz.toml");
    assert_eq!(first, Config::from_toml(text, "fuzz.toml"), "the same text read twice differs");
    match first {
        Ok(config) => {
            let _ = config.summary();
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            let lines = text.split('\n').count();
            for e in &errors.errors {
                assert!(!e.message.is_empty(), "{e:?}");
                if let Some(line) = e.line {
                    assert!((1..=lines).contains(&line), "line {line} of a {lines}-line file: {e:?}");
                }
            }
            let printed = errors.to_string();
            assert_eq!(printed.lines().count(), errors.errors.len(), "not one line per error:\n{printed}");
        }
    }
});
