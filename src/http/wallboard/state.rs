//! What the wallboard's handlers share: the HTTP side's [`Shared`], the shift's
//! figures (read at most every few seconds for every wallboard together) and the
//! failed logins per address, and the board last served as JSON per language.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::attempts::Attempts;
use super::i18n::Lang;
use super::shift::{ShiftCache, ShiftFigures};
use crate::config::Config;
use crate::http::Live;
use crate::http::Shared;

/// The wallboard's state (cheap to clone).
#[derive(Clone)]
pub(super) struct Wall {
    /// Snapshots, events, tokens, config.
    pub shared: Shared,
    /// The shift's figures.
    pub shift: Arc<ShiftCache>,
    /// Failed logins.
    pub attempts: Arc<Attempts>,
    /// The board's JSON last built, per language.
    pub boards: Arc<BoardCache>,
}

/// The board's JSON, built once per snapshot, shift figures, config and language
/// however many wallboards ask (20 screens polling every 2 s and after each event would
/// otherwise each build it from a snapshot of up to thousands of calls). Holding the
/// `Arc`s it was built from keeps their addresses from being reused, so comparing
/// pointers is exact.
#[derive(Default)]
pub(super) struct BoardCache {
    last: Mutex<Vec<Built>>,
}

/// One language's board and what it was built from.
struct Built {
    lang: Lang,
    live: Arc<Live>,
    figures: Arc<ShiftFigures>,
    config: Arc<Config>,
    json: Bytes,
}

impl BoardCache {
    /// The JSON built from exactly these inputs, if it is the last one built.
    pub fn get(&self, lang: Lang, live: &Arc<Live>, figures: &Arc<ShiftFigures>, config: &Arc<Config>) -> Option<Bytes> {
        let last = self.last.lock().ok()?;
        last.iter()
            .find(|b| b.lang == lang && Arc::ptr_eq(&b.live, live) && Arc::ptr_eq(&b.figures, figures) && Arc::ptr_eq(&b.config, config))
            .map(|b| b.json.clone())
    }

    /// Keeps `json` as `lang`'s board (one per language: two at most).
    pub fn put(&self, lang: Lang, live: Arc<Live>, figures: Arc<ShiftFigures>, config: Arc<Config>, json: Bytes) {
        if let Ok(mut last) = self.last.lock() {
            last.retain(|b| b.lang != lang);
            last.push(Built { lang, live, figures, config, json });
        }
    }
}

impl Wall {
    /// The state over `shared`.
    pub fn new(shared: Shared) -> Wall {
        let shift = Arc::new(ShiftCache::new(shared.records.clone()));
        Wall { shared, shift, attempts: Arc::new(Attempts::default()), boards: Arc::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::acd::AcdSnapshot;
    use crate::engine::{Snapshot, Stats};
    use std::time::Duration;

    fn live(config: &Arc<Config>) -> Arc<Live> {
        let acd = AcdSnapshot { queues: Vec::new(), operators: Vec::new() };
        let engine = Snapshot { config_version: "v1".into(), calls_in_progress: 0, draining: false, stats: Stats::default(), acd, calls: Vec::new() };
        Arc::new(Live { engine, records: None, build_time: Duration::ZERO, rtp: Default::default(), config: config.clone() })
    }

    #[test]
    fn a_board_is_served_again_only_for_the_very_inputs_it_was_built_from() {
        let config = Arc::new(Config::embedded_default().unwrap());
        let now = crate::clock::UtcMs::now();
        let span = config.store.shifts(config.routing.utc_offset).current(now);
        let figures = Arc::new(ShiftFigures::unread(span));
        let (a, b) = (live(&config), live(&config));
        let cache = BoardCache::default();
        assert!(cache.get(Lang::Id, &a, &figures, &config).is_none());
        cache.put(Lang::Id, a.clone(), figures.clone(), config.clone(), Bytes::from_static(b"{\"id\":1}"));
        cache.put(Lang::En, a.clone(), figures.clone(), config.clone(), Bytes::from_static(b"{\"en\":1}"));
        assert_eq!(cache.get(Lang::Id, &a, &figures, &config).as_deref(), Some(&b"{\"id\":1}"[..]));
        assert_eq!(cache.get(Lang::En, &a, &figures, &config).as_deref(), Some(&b"{\"en\":1}"[..]));
        // A new snapshot (equal in content, another publication), new figures or a
        // reloaded config: built again.
        assert!(cache.get(Lang::Id, &b, &figures, &config).is_none());
        let later = Arc::new(ShiftFigures::unread(figures.span.clone()));
        assert!(cache.get(Lang::Id, &a, &later, &config).is_none());
        let reloaded = Arc::new(Config::embedded_default().unwrap());
        assert!(cache.get(Lang::Id, &a, &figures, &reloaded).is_none());
        // One per language: the next snapshot's board replaces the last.
        cache.put(Lang::Id, b.clone(), figures.clone(), config.clone(), Bytes::from_static(b"{\"id\":2}"));
        assert!(cache.get(Lang::Id, &a, &figures, &config).is_none());
        assert_eq!(cache.last.lock().unwrap().len(), 2);
    }
}
