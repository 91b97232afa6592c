//! The wallboard's words, in Indonesian (the default: the command centers are in
//! Indonesia) and English. `?lang=id|en` chooses; without it, the browser's
//! `Accept-Language` (the first of `id` and `en` it prefers); else Indonesian.
//!
//! The page is rendered with them on the server, and the state the script fetches
//! carries them (`labels`, and a label beside each state and outcome), so the words
//! live here only.

use axum::http::{header, HeaderMap, Uri};
use serde::Serialize;

/// A language of the wallboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    /// Bahasa Indonesia.
    Id,
    /// English.
    En,
}

impl Lang {
    /// `id` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    /// The language a `lang` value names.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "id" => Some(Lang::Id),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a request: its query's `lang`, else [`Lang::choose`].
    pub fn of(uri: &Uri, headers: &HeaderMap) -> Lang {
        let query = uri.query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned()));
        Lang::choose(query.as_deref(), headers)
    }

    /// `query` (a `lang` value), else the best of `Accept-Language`, else Indonesian.
    pub fn choose(query: Option<&str>, headers: &HeaderMap) -> Lang {
        query.and_then(Lang::parse).or_else(|| headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(accept_language)).unwrap_or(Lang::Id)
    }

    /// The other language (the switch on the page).
    pub fn other(self) -> Lang {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    /// The words.
    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::Id => &ID,
            Lang::En => &EN,
        }
    }
}

/// The preferred of `id` and `en` in an `Accept-Language` value (`en-GB,en;q=0.9`):
/// the highest weight, the first on a tie; at most 16 entries looked at.
fn accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u32)> = None;
    for item in value.split(',').take(16) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let primary = tag.split('-').next().unwrap_or_default();
        let Some(lang) = Lang::parse(primary) else { continue };
        let q = parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(1000, weight);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(l, _)| l)
}

/// A `q` value in thousandths (`0.8` → 800); malformed counts as 0.
fn weight(q: &str) -> u32 {
    let q = q.trim();
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if int.len() != 1 || frac.len() > 3 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let frac: u32 = format!("{frac:0<3}").parse().unwrap_or(0);
    (int.parse::<u32>().unwrap_or(0) * 1000 + frac).min(1000)
}

/// Every word on the wallboard.
#[derive(Debug, Serialize)]
pub(super) struct Labels {
    /// The page's title.
    pub title: &'static str,
    /// Section: queues.
    pub departments: &'static str,
    /// After a count of callers.
    pub waiting: &'static str,
    /// Before the longest wait.
    pub longest_wait: &'static str,
    /// `+N more` callers not listed.
    pub more: &'static str,
    /// A caller whose offer rings an operator.
    pub ringing_at: &'static str,
    /// Of the callers held, being offered.
    pub of_which_ringing: &'static str,
    /// Section: operators.
    pub operators: &'static str,
    /// Section: the shift.
    pub shift: &'static str,
    /// The service level's name.
    pub answered_within: &'static str,
    /// Abandoned in the queue.
    pub abandoned: &'static str,
    /// Abandoned in the IVR.
    pub abandoned_ivr: &'static str,
    /// Calls this shift.
    pub calls: &'static str,
    /// Section: last calls.
    pub recent: &'static str,
    /// No call this shift yet.
    pub no_calls: &'static str,
    /// The gateway keeps no records.
    pub no_records: &'static str,
    /// Table heads of the last calls.
    pub col_time: &'static str,
    /// Caller column.
    pub col_caller: &'static str,
    /// Department column.
    pub col_department: &'static str,
    /// Outcome column.
    pub col_outcome: &'static str,
    /// Answer time column.
    pub col_answer: &'static str,
    /// The stream is up.
    pub live: &'static str,
    /// The stream is down.
    pub offline: &'static str,
    /// The gateway is stopping.
    pub draining: &'static str,
    /// Before the state was fetched by the script.
    pub server_rendered: &'static str,
    /// Sign in.
    pub login: &'static str,
    /// What to type.
    pub login_hint: &'static str,
    /// The token field.
    pub token: &'static str,
    /// A wrong token.
    pub wrong_token: &'static str,
    /// Too many attempts.
    pub too_many: &'static str,
    /// Sign out.
    pub logout: &'static str,
    /// The switch to the other language, in that language.
    pub other_language: &'static str,
    /// Operator states, by [`crate::call::acd::OperatorStatus::as_str`].
    pub states: States,
    /// Call outcomes, by [`crate::store::Outcome::as_str`] (and `open`).
    pub outcomes: Outcomes,
    /// Heading of the answer times per priority class.
    pub by_class: &'static str,
    /// Mean answer time column.
    pub avg_answer: &'static str,
    /// Longest answer time column.
    pub max_answer: &'static str,
    /// Priority classes, by [`crate::store::classes::class_of`].
    pub classes: Classes,
}

/// Priority classes in a queue (issue 16).
#[derive(Debug, Serialize)]
pub(super) struct Classes {
    /// `high`: pressed 5 5, or calling back.
    pub high: &'static str,
    /// `normal`.
    pub normal: &'static str,
    /// `low`: silent.
    pub low: &'static str,
}

impl Classes {
    /// The word for a class name.
    pub fn get(&self, class: &str) -> &'static str {
        match class {
            "high" => self.high,
            "low" => self.low,
            _ => self.normal,
        }
    }
}

/// Operator states.
#[derive(Debug, Serialize)]
pub(super) struct States {
    /// `available`.
    pub available: &'static str,
    /// `ringing`.
    pub ringing: &'static str,
    /// `on_call`.
    pub on_call: &'static str,
    /// `wrap_up`.
    pub wrap_up: &'static str,
    /// `paused`.
    pub paused: &'static str,
    /// `offline`.
    pub offline: &'static str,
}

impl States {
    /// The word for a state name.
    pub fn get(&self, state: &str) -> &'static str {
        match state {
            "available" => self.available,
            "ringing" => self.ringing,
            "on_call" => self.on_call,
            "wrap_up" => self.wrap_up,
            "paused" => self.paused,
            _ => self.offline,
        }
    }
}

/// Call outcomes.
#[derive(Debug, Serialize)]
pub(super) struct Outcomes {
    /// `answered`.
    pub answered: &'static str,
    /// `abandoned_queue`.
    pub abandoned_queue: &'static str,
    /// `abandoned_ivr`.
    pub abandoned_ivr: &'static str,
    /// `rejected`.
    pub rejected: &'static str,
    /// `failed`.
    pub failed: &'static str,
    /// `interrupted`.
    pub interrupted: &'static str,
    /// In progress.
    pub open: &'static str,
}

impl Outcomes {
    /// The word for an outcome name (`open` for none).
    pub fn get(&self, outcome: &str) -> &'static str {
        match outcome {
            "answered" => self.answered,
            "abandoned_queue" => self.abandoned_queue,
            "abandoned_ivr" => self.abandoned_ivr,
            "rejected" => self.rejected,
            "failed" => self.failed,
            "interrupted" => self.interrupted,
            _ => self.open,
        }
    }
}

static ID: Labels = Labels {
    title: "Papan Antrean 112",
    departments: "Antrean per bagian",
    waiting: "menunggu",
    longest_wait: "terlama",
    more: "lainnya",
    ringing_at: "berdering di",
    of_which_ringing: "berdering",
    operators: "Operator",
    shift: "Shift",
    answered_within: "Dijawab ≤ 15 detik",
    abandoned: "Ditinggal di antrean",
    abandoned_ivr: "Ditinggal di IVR",
    calls: "Panggilan",
    recent: "Panggilan terakhir",
    no_calls: "Belum ada panggilan di shift ini",
    no_records: "Catatan panggilan tidak tersedia",
    col_time: "Waktu",
    col_caller: "Penelepon",
    col_department: "Bagian",
    col_outcome: "Hasil",
    col_answer: "Dijawab dalam",
    live: "Langsung",
    offline: "Terputus, menyambung ulang…",
    draining: "Gateway berhenti",
    server_rendered: "Memuat…",
    login: "Masuk",
    login_hint: "Masukkan token wallboard (dari cc112 http-token).",
    token: "Token",
    wrong_token: "Token salah.",
    too_many: "Terlalu banyak percobaan. Coba lagi dalam satu menit.",
    logout: "Keluar",
    other_language: "English",
    states: States { available: "Siap", ringing: "Berdering", on_call: "Menerima panggilan", wrap_up: "Penyelesaian", paused: "Jeda", offline: "Luring" },
    outcomes: Outcomes {
        answered: "Dijawab",
        abandoned_queue: "Ditinggal di antrean",
        abandoned_ivr: "Ditinggal di IVR",
        rejected: "Ditolak",
        failed: "Gagal",
        interrupted: "Terputus",
        open: "Berlangsung",
    },
    by_class: "Waktu jawab per prioritas",
    avg_answer: "rata-rata",
    max_answer: "terlama",
    classes: Classes { high: "Tinggi (5 5, telepon ulang)", normal: "Biasa", low: "Diam" },
};

static EN: Labels = Labels {
    title: "112 Wallboard",
    departments: "Queues by department",
    waiting: "waiting",
    longest_wait: "longest",
    more: "more",
    ringing_at: "ringing at",
    of_which_ringing: "ringing",
    operators: "Operators",
    shift: "Shift",
    answered_within: "Answered ≤ 15 s",
    abandoned: "Abandoned in queue",
    abandoned_ivr: "Abandoned in IVR",
    calls: "Calls",
    recent: "Last calls",
    no_calls: "No calls this shift yet",
    no_records: "Call records unavailable",
    col_time: "Time",
    col_caller: "Caller",
    col_department: "Department",
    col_outcome: "Outcome",
    col_answer: "Answered in",
    live: "Live",
    offline: "Disconnected, reconnecting…",
    draining: "Gateway stopping",
    server_rendered: "Loading…",
    login: "Sign in",
    login_hint: "Enter the wallboard token (from cc112 http-token).",
    token: "Token",
    wrong_token: "Wrong token.",
    too_many: "Too many attempts. Try again in a minute.",
    logout: "Sign out",
    other_language: "Bahasa Indonesia",
    states: States { available: "Available", ringing: "Ringing", on_call: "On call", wrap_up: "Wrap-up", paused: "Paused", offline: "Offline" },
    outcomes: Outcomes {
        answered: "Answered",
        abandoned_queue: "Abandoned in queue",
        abandoned_ivr: "Abandoned in IVR",
        rejected: "Rejected",
        failed: "Failed",
        interrupted: "Interrupted",
        open: "In progress",
    },
    by_class: "Answer time by priority",
    avg_answer: "mean",
    max_answer: "longest",
    classes: Classes { high: "High (5 5, calling back)", normal: "Normal", low: "Silent" },
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn the_query_wins_then_the_browser_then_indonesian() {
        assert_eq!(Lang::choose(Some("en"), &with_accept("id")), Lang::En);
        assert_eq!(Lang::choose(Some("xx"), &with_accept("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, &with_accept("fr-FR,en;q=0.5,id;q=0.8")), Lang::Id);
        assert_eq!(Lang::choose(None, &with_accept("id-ID,id;q=0.9,en-US;q=0.8")), Lang::Id);
        assert_eq!(Lang::choose(None, &with_accept("de,fr")), Lang::Id);
        assert_eq!(Lang::choose(None, &with_accept("en;q=0")), Lang::Id);
        assert_eq!(Lang::choose(None, &HeaderMap::new()), Lang::Id);
        assert_eq!(Lang::of(&Uri::from_static("/?x=1&lang=en"), &with_accept("id")), Lang::En);
        assert_eq!(Lang::of(&Uri::from_static("/"), &with_accept("en")), Lang::En);
    }

    #[test]
    fn weights_are_read_in_thousandths() {
        assert_eq!(weight("1"), 1000);
        assert_eq!(weight("0.8"), 800);
        assert_eq!(weight("0.125"), 125);
        assert_eq!(weight("0.1234"), 0);
        assert_eq!(weight("x"), 0);
        assert_eq!(weight("9.9"), 1000);
    }
}
