//! The prompt store: every prompt of the routing plan read, checked and encoded in every
//! codec (both G.711 laws, G.722, Opus) once, at start and at each reload, and shared as
//! `Arc<[u8]>` by every call.
//!
//! Why once and in every codec: a call's codec is known only at its answer, and
//! per-packet file reads or encoding would put disk latency and CPU into the 20 ms
//! pacing of hundreds of streams (issue 6 item 2; an Opus encode costs far more than
//! the G.711 table). G.722 is encoded from the 8 kHz recordings resampled to 16 kHz, Opus
//! from them as they are (see [`super::prompt::encode_prompt`]). The ~40 s of prompts
//! shipped (both languages) take ~320 KB per G.711 law and for G.722, ~120 KB for Opus,
//! read-only and shared.
//!
//! Why errors do not stop the gateway: a missing or unreadable prompt must never stand
//! between a caller and an operator. [`PromptStore::load`] returns what it could load
//! together with one [`PromptError`] per bad file, naming it; the runtime logs them, and
//! when the IVR asks for a missing prompt it reports it finished at once (the IVR's
//! `prompt_timeout` is the backstop). This module is the only place in `media` that
//! touches the filesystem, and only at load; the reader is injectable for tests.
//!
//! A prompt is named by a [`Lang`] and a [`PromptId`], defined here because this is
//! the lowest layer that keys anything by them; configuration (which sits above media)
//! re-exports them and tells the store which files to load through [`PromptPlan`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::prompt::{encode_prompt, encode_wideband_prompt, upsample_prompt};
use super::wav::{parse_wav, WavError};
use super::Codec;


crate::name::name_type!(
    /// A language code (ISO 639-1/-3, lowercase: `id`, `en`, `jv`); it also names the
    /// prompt directory `config/prompts/<lang>/`.
    Lang
);
crate::name::name_type!(
    /// A prompt (`greeting`, `menu_main`, ...); each language maps it to a WAV file.
    PromptId
);

/// Whatever names the prompt files to load: the routing plan, in practice. A trait so
/// that media need not know the configuration above it.
pub trait PromptPlan {
    /// Every prompt of every language, with its WAV file name relative to the
    /// language's folder `<prompts_dir>/<lang>/`.
    fn prompt_files(&self) -> Vec<(Lang, PromptId, String)>;
}

impl<T: PromptPlan + ?Sized> PromptPlan for Arc<T> {
    fn prompt_files(&self) -> Vec<(Lang, PromptId, String)> {
        (**self).prompt_files()
    }
}

/// One prompt file to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSource {
    /// The language it is spoken in.
    pub lang: Lang,
    /// Which prompt it is.
    pub id: PromptId,
    /// The WAV file (8 kHz mono 16-bit PCM).
    pub path: PathBuf,
}

/// Why a prompt could not be loaded. Every variant names the file and the prompt, so
/// the log line tells the admin exactly what to fix.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The file could not be read (missing, permissions).
    #[error("prompt {lang}/{id}: cannot read {}: {source}", path.display())]
    Read {
        /// The prompt's language.
        lang: Lang,
        /// The prompt.
        id: PromptId,
        /// The file that could not be read.
        path: PathBuf,
        /// The OS error (shared: one file may serve several prompts).
        #[source]
        source: Arc<io::Error>,
    },
    /// The file is not an 8 kHz mono 16-bit PCM WAV.
    #[error("prompt {lang}/{id}: {}: {source}", path.display())]
    Wav {
        /// The prompt's language.
        lang: Lang,
        /// The prompt.
        id: PromptId,
        /// The file with the wrong format.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: WavError,
    },
    /// The file holds no audio: the caller would hear nothing and the IVR would wait.
    #[error("prompt {lang}/{id}: {} holds no audio", path.display())]
    Empty {
        /// The prompt's language.
        lang: Lang,
        /// The prompt.
        id: PromptId,
        /// The silent file.
        path: PathBuf,
    },
}

impl PromptError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PromptError::Read { path, .. }
            | PromptError::Wav { path, .. }
            | PromptError::Empty { path, .. } => path,
        }
    }
}

/// One prompt, ready for any call: the frames in every codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    pcmu: Arc<[u8]>,
    pcma: Arc<[u8]>,
    g722: Arc<[u8]>,
    opus: Arc<[u8]>,
}

impl EncodedPrompt {
    /// Encodes linear 8 kHz samples once in every codec (last frame padded to 20 ms).
    pub fn from_samples(samples: &[i16]) -> Self {
        let wide = upsample_prompt(samples);
        EncodedPrompt {
            pcmu: encode_prompt(samples, Codec::Pcmu),
            pcma: encode_prompt(samples, Codec::Pcma),
            g722: encode_wideband_prompt(&wide, Codec::G722),
            opus: encode_prompt(samples, Codec::Opus),
        }
    }

    /// The frames to hand to [`super::session::MediaSession::play`] (a pointer copy).
    pub fn frames(&self, codec: Codec) -> Arc<[u8]> {
        match codec {
            Codec::Pcmu => Arc::clone(&self.pcmu),
            Codec::Pcma => Arc::clone(&self.pcma),
            Codec::G722 => Arc::clone(&self.g722),
            Codec::Opus => Arc::clone(&self.opus),
        }
    }

    /// Playing time (one byte per sample at 8 kHz, padded to whole 20 ms frames).
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcmu.len() as u64 * 125)
    }
}

/// All prompts of a routing plan, by language and id. Immutable once loaded: a reload
/// builds a new store, and calls in progress keep the `Arc` of the old one.
#[derive(Debug, Clone, Default)]
pub struct PromptStore {
    prompts: BTreeMap<(Lang, PromptId), EncodedPrompt>,
}

impl PromptStore {
    /// An empty store (every lookup misses; the IVR then runs on its timeouts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every prompt file each language of `plan` names, from
    /// `<prompts_dir>/<lang>/<file>` (`config/prompts` in the shipped layout).
    pub fn load_plan(
        plan: &impl PromptPlan,
        prompts_dir: &Path,
    ) -> (PromptStore, Vec<PromptError>) {
        Self::load(plan_sources(plan, prompts_dir))
    }

    /// Loads `sources` from the filesystem. See [`load_with`](Self::load_with).
    pub fn load(
        sources: impl IntoIterator<Item = PromptSource>,
    ) -> (PromptStore, Vec<PromptError>) {
        Self::load_with(sources, |path| std::fs::read(path))
    }

    /// Loads `sources` with `read`: each distinct path is read and encoded once even if
    /// several prompts share it. Bad files are skipped and reported, the rest loaded.
    pub fn load_with(
        sources: impl IntoIterator<Item = PromptSource>,
        mut read: impl FnMut(&Path) -> io::Result<Vec<u8>>,
    ) -> (PromptStore, Vec<PromptError>) {
        enum Loaded {
            Ok(EncodedPrompt),
            Read(Arc<io::Error>),
            Wav(WavError),
            Empty,
        }
        let mut by_path: HashMap<PathBuf, Loaded> = HashMap::new();
        let mut store = PromptStore::new();
        let mut errors = Vec::new();
        for PromptSource { lang, id, path } in sources {
            let loaded = by_path
                .entry(path.clone())
                .or_insert_with(|| match read(&path) {
                    Err(e) => Loaded::Read(Arc::new(e)),
                    Ok(bytes) => match parse_wav(&bytes) {
                        Err(e) => Loaded::Wav(e),
                        Ok(samples) if samples.is_empty() => Loaded::Empty,
                        Ok(samples) => Loaded::Ok(EncodedPrompt::from_samples(&samples)),
                    },
                });
            match loaded {
                Loaded::Ok(p) => {
                    store.prompts.insert((lang, id), p.clone());
                }
                Loaded::Read(e) => errors.push(PromptError::Read {
                    lang,
                    id,
                    path,
                    source: Arc::clone(e),
                }),
                Loaded::Wav(e) => errors.push(PromptError::Wav {
                    lang,
                    id,
                    path,
                    source: e.clone(),
                }),
                Loaded::Empty => errors.push(PromptError::Empty { lang, id, path }),
            }
        }
        (store, errors)
    }

    /// Adds (or replaces) a prompt from linear samples.
    pub fn insert_samples(&mut self, lang: Lang, id: PromptId, samples: &[i16]) {
        self.prompts
            .insert((lang, id), EncodedPrompt::from_samples(samples));
    }

    /// The prompt, if it was loaded.
    pub fn prompt(&self, lang: &Lang, id: &PromptId) -> Option<&EncodedPrompt> {
        self.prompts.get(&(lang.clone(), id.clone()))
    }

    /// The frames of a prompt in a codec, ready for [`super::session::MediaSession::play`].
    pub fn frames(&self, lang: &Lang, id: &PromptId, codec: Codec) -> Option<Arc<[u8]>> {
        self.prompt(lang, id).map(|p| p.frames(codec))
    }

    /// Every loaded prompt.
    pub fn iter(&self) -> impl Iterator<Item = (&Lang, &PromptId, &EncodedPrompt)> {
        self.prompts.iter().map(|((l, i), p)| (l, i, p))
    }

    /// Number of prompts loaded.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// The files a plan names: `<prompts_dir>/<lang>/<file>` for every prompt of every
/// language (validation has made sure each language names every prompt used).
pub fn plan_sources(plan: &impl PromptPlan, prompts_dir: &Path) -> Vec<PromptSource> {
    plan.prompt_files()
        .into_iter()
        .map(|(lang, id, file)| {
            let path = prompts_dir.join(lang.as_str()).join(file);
            PromptSource { lang, id, path }
        })
        .collect()
}
