//! Where the gateway's prompts come from.
//!
//! The shipped recordings are compiled into the binary, so the gateway speaks on its
//! embedded default config from any directory. With `--config FILE`, prompts are read
//! from `<directory of FILE>/prompts/<lang>/`; a file missing there falls back to the
//! built-in recording of the same name (logged): on an emergency line a default prompt
//! is better than silence. Files are read once, at start and at reload, never per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::Config;
use crate::media::prompts::{plan_sources, PromptStore};

/// The shipped recordings, as `(lang/file, bytes)`.
pub const BUILT_IN: &[(&str, &[u8])] = &[
    ("id/greeting.wav", include_bytes!("../../config/prompts/id/greeting.wav")),
    ("id/menu_main.wav", include_bytes!("../../config/prompts/id/menu_main.wav")),
    ("id/invalid_choice.wav", include_bytes!("../../config/prompts/id/invalid_choice.wav")),
    ("id/no_choice.wav", include_bytes!("../../config/prompts/id/no_choice.wav")),
    ("id/hold.wav", include_bytes!("../../config/prompts/id/hold.wav")),
    ("id/stay_on_line.wav", include_bytes!("../../config/prompts/id/stay_on_line.wav")),
    ("id/connecting.wav", include_bytes!("../../config/prompts/id/connecting.wav")),
    ("id/silent_prompt.wav", include_bytes!("../../config/prompts/id/silent_prompt.wav")),
    ("en/greeting.wav", include_bytes!("../../config/prompts/en/greeting.wav")),
    ("en/menu_main.wav", include_bytes!("../../config/prompts/en/menu_main.wav")),
    ("en/invalid_choice.wav", include_bytes!("../../config/prompts/en/invalid_choice.wav")),
    ("en/no_choice.wav", include_bytes!("../../config/prompts/en/no_choice.wav")),
    ("en/hold.wav", include_bytes!("../../config/prompts/en/hold.wav")),
    ("en/stay_on_line.wav", include_bytes!("../../config/prompts/en/stay_on_line.wav")),
    ("en/connecting.wav", include_bytes!("../../config/prompts/en/connecting.wav")),
    ("en/silent_prompt.wav", include_bytes!("../../config/prompts/en/silent_prompt.wav")),
];

fn built_in(lang_file: &str) -> Option<&'static [u8]> {
    BUILT_IN.iter().find(|(name, _)| *name == lang_file).map(|(_, b)| *b)
}

/// The prompt directory for a config file (None: the embedded config, built-ins only).
pub fn prompts_dir(config_path: Option<&Path>) -> Option<PathBuf> {
    config_path.map(|p| p.parent().unwrap_or_else(|| Path::new(".")).join("prompts"))
}

/// Load every prompt the plan uses, encoded in both laws. Problems are logged; the
/// gateway runs with what it has (the IVR moves on past a prompt it cannot play).
pub fn load(config: &Config, dir: Option<&Path>) -> Arc<PromptStore> {
    let marker = Path::new("\u{0}built-in");
    let base = dir.unwrap_or(marker);
    let sources = plan_sources(&config.routing, base);
    let (store, errors) = PromptStore::load_with(sources, |path| {
        let rel = path.strip_prefix(base).map(|r| r.to_string_lossy().replace('\\', "/")).unwrap_or_default();
        if dir.is_some() {
            match std::fs::read(path) {
                Ok(b) => return Ok(b),
                Err(e) => match built_in(&rel) {
                    Some(b) => {
                        warn!(file = %path.display(), error = %e, "prompt file unreadable; using the built-in recording");
                        return Ok(b.to_vec());
                    }
                    None => return Err(e),
                },
            }
        }
        built_in(&rel)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no built-in prompt {rel}")))
    });
    for e in &errors {
        warn!(error = %e, "prompt not available; the IVR will skip it");
    }
    info!(prompts = store.len(), problems = errors.len(), "prompts loaded");
    Arc::new(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_prompt_is_built_in_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts");
        let mut on_disk = Vec::new();
        for lang in std::fs::read_dir(&dir).unwrap() {
            let lang = lang.unwrap();
            for f in std::fs::read_dir(lang.path()).unwrap() {
                let f = f.unwrap();
                on_disk.push(format!("{}/{}", lang.file_name().to_string_lossy(), f.file_name().to_string_lossy()));
            }
        }
        on_disk.sort();
        let mut built: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
        built.sort();
        assert_eq!(on_disk, built, "config/prompts and the built-in list must match");
        let config = Config::embedded_default().unwrap();
        let store = load(&config, None);
        assert_eq!(store.len(), config.routing.prompts_used().len() * config.routing.languages.len());
    }
}
