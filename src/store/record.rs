//! What the engine tells the store: one [`Record`] per fact, in the order it happened.
//!
//! Records are plain data (no SQL) so the same stream can feed the SQLite writer today
//! and a PostgreSQL one later.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::clock::UtcMs;

/// The primary key of a `calls` row.
///
/// The engine's call ids (`c17`) restart at every process start, so they cannot key a
/// table that outlives the process. This is a ULID: 48 bits of milliseconds then 80
/// random bits, in Crockford base 32 (26 characters). It sorts by creation time (handy
/// in the `sqlite3` shell) and needs no round trip to the database, so the engine can
/// name the call in later records before the first one is even written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordId(pub String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl RecordId {
    /// A new id for a call started at `at`; `rng` is the caller's (the engine's seeded
    /// RNG keeps scenario tests reproducible).
    pub fn generate(at: UtcMs, rng: &mut impl RngCore) -> RecordId {
        let ms = (at.millis().max(0) as u128) & ((1u128 << 48) - 1);
        let mut rand = [0u8; 10];
        rng.fill_bytes(&mut rand);
        let mut r: u128 = 0;
        for b in rand {
            r = (r << 8) | u128::from(b);
        }
        let v = (ms << 80) | r;
        let mut s = String::with_capacity(26);
        for i in (0..26).rev() {
            let idx = ((v >> (i * 5)) & 31) as usize;
            // 32 symbols and a 5-bit index: always present.
            if let Some(&c) = CROCKFORD.get(idx) {
                s.push(char::from(c));
            }
        }
        RecordId(s)
    }

    /// Wraps an id read back from the database or typed on the command line.
    pub fn new(s: impl Into<String>) -> RecordId {
        RecordId(s.into())
    }

    /// The 26 Crockford base-32 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a call ended, as the shift reports it. Stored as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An operator answered.
    Answered,
    /// The caller hung up before choosing a department.
    AbandonedIvr,
    /// The caller hung up while waiting for an operator.
    AbandonedQueue,
    /// Refused before a dialog existed (overload 503, malformed request).
    Rejected,
    /// Ended by an error of ours or of the network (no ACK, RTP timeout before answer).
    Failed,
    /// Still open when the gateway stopped without closing it (crash, `kill -9`);
    /// set at the next start.
    Interrupted,
}

/// The end reason of a call refused with 488 because its offer had no codec we can
/// decode (outcome [`Outcome::Rejected`]); the report counts these apart.
pub const NO_COMMON_CODEC: &str = "no common codec";

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Answered,
        Outcome::AbandonedIvr,
        Outcome::AbandonedQueue,
        Outcome::Rejected,
        Outcome::Failed,
        Outcome::Interrupted,
    ];

    /// The snake_case name stored in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::AbandonedIvr => "abandoned_ivr",
            Outcome::AbandonedQueue => "abandoned_queue",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown outcome {s:?} (one of {})", names.join(", "))
            })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sent the BYE (or CANCEL) that ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupBy {
    /// The emergency caller.
    Caller,
    /// The operator's phone.
    Operator,
    /// The gateway itself: timeout, shutdown, error.
    Gateway,
}

impl HangupBy {
    /// The name stored in the `hangup_by` column.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Caller => "caller",
            HangupBy::Operator => "operator",
            HangupBy::Gateway => "gateway",
        }
    }
}

/// The first record of a call: what the INVITE told us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    /// The call's record id, made when the INVITE arrives.
    pub id: RecordId,
    /// The SIP Call-ID of the caller's leg, to match SIPp traces and phone logs.
    pub sip_call_id: String,
    /// The caller's number (From user part, or P-Asserted-Identity when trusted).
    pub caller: String,
    /// The From display name, when sent.
    pub caller_name: Option<String>,
    /// The Request-URI as dialed (`sip:112@...`, `tel:112`, `urn:service:sos`).
    pub dialed: String,
    /// The emergency identity it matched (`112`, `110`, `urn:service:sos`...).
    pub identity: String,
    /// When the INVITE arrived.
    pub started_at: UtcMs,
    /// Version of the configuration the call runs under (reloads do not touch it).
    pub config_version: Option<String>,
}

/// Fields of the `calls` row learnt as the call goes on. `None` leaves a column as it
/// is, so each update carries only what changed and updates can be merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallPatch {
    /// When our 200 OK went out (the IVR picked up).
    pub answered_at: Option<UtcMs>,
    /// The IVR language the caller is in.
    pub language: Option<String>,
    /// Digits pressed in the IVR, in order (`"21"`).
    pub ivr_digits: Option<String>,
    /// Menus visited, in order; stored as a JSON array.
    pub ivr_path: Option<Vec<String>>,
    /// The queue the call was routed to.
    pub department: Option<String>,
    /// When it entered that queue.
    pub queue_entered_at: Option<UtcMs>,
    /// The operator who answered.
    pub operator: Option<String>,
    /// When that operator answered.
    pub operator_answered_at: Option<UtcMs>,
    /// The call's flags, comma-separated (`silent_55`, `silent`, `callback`).
    pub flags: Option<String>,
    /// The caller's recent calls as the operator was shown them (`X-CC112-History`).
    pub history: Option<String>,
    /// What the caller's audio held until the bridge (or the end).
    pub voice: Option<Voice>,
}

/// What the voice-activity detector heard of a caller, between the answer and the
/// bridge (or the end of the call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// `speech`, `noise`, `silence` or `no_audio` (their phone sent none).
    pub verdict: String,
    /// Milliseconds of audio into the call when the caller first spoke.
    pub first_speech_ms: Option<u32>,
    /// Milliseconds of noise (above the silence level, not speech) before that.
    pub noise_ms: u32,
    /// Milliseconds of silence before that.
    pub silence_ms: u32,
}

/// The last record of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEnd {
    /// The call's record id.
    pub id: RecordId,
    /// When the call ended.
    pub ended_at: UtcMs,
    /// How it ended.
    pub outcome: Outcome,
    /// `None` when no BYE or CANCEL ended it (rejected, failed).
    pub hangup_by: Option<HangupBy>,
    /// Free text for people: "caller hung up in queue", "RTP timeout".
    pub reason: String,
}

/// Operator state changes, the history behind per-operator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorEventKind {
    /// Registered, available for calls.
    Login,
    /// Unregistered or expired.
    Logout,
    /// Not taking calls, with a reason.
    Pause,
    /// Taking calls again.
    Resume,
    /// The wrap-up period after a call began.
    Wrapup,
    /// Did not answer an offered call and was paused automatically.
    NotResponding,
    /// A supervisor paused, resumed or logged out the operator; the reason says what
    /// and names who (`pause by alice: break`).
    Supervisor,
}

impl OperatorEventKind {
    /// The name stored in `operator_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorEventKind::Login => "login",
            OperatorEventKind::Logout => "logout",
            OperatorEventKind::Pause => "pause",
            OperatorEventKind::Resume => "resume",
            OperatorEventKind::Wrapup => "wrapup",
            OperatorEventKind::NotResponding => "not_responding",
            OperatorEventKind::Supervisor => "supervisor",
        }
    }
}

/// One message to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// Inserts the `calls` row and a `started` event. Refused when the writer's queue is at its
    /// capacity (the call is then answered 503, never without its record).
    CallStarted(CallStart),
    /// Sets the non-`None` fields of the row. Never dropped: the row is the summary
    /// the shift reads, and there are only a handful per call.
    CallUpdated {
        /// The call's record id.
        id: RecordId,
        /// The columns to set.
        patch: CallPatch,
    },
    /// Appends to the call's timeline. `details` is free-form JSON (`null` for none).
    /// Dropped (and counted) when the queue is past half full: the timeline loses detail, the
    /// summary row does not.
    Event {
        /// The call's record id.
        call: RecordId,
        /// When it happened.
        at: UtcMs,
        /// `ivr_digit`, `queued`, `offered`...
        kind: String,
        /// Free-form JSON (`null` for none).
        details: serde_json::Value,
    },
    /// Appends to `operator_events`. Droppable like `Event`.
    OperatorEvent {
        /// The operator id.
        operator: String,
        /// When it happened.
        at: UtcMs,
        /// What changed.
        kind: OperatorEventKind,
        /// The pause reason, when there is one.
        reason: Option<String>,
    },
    /// Closes the row (first end wins) and appends an `ended` event. Never dropped.
    CallEnded(CallEnd),
    /// Appends to `refusals`: about a second of new calls refused from one source for
    /// one reason. Droppable like `Event` (the log line of the refusals stays).
    Refused(RefusalRow),
    /// Open callback items made before `before` expire (logged with their count).
    /// Droppable like `Event`: the next one catches up.
    ExpireCallbacks {
        /// Items made before this expire.
        before: UtcMs,
        /// Now, their closing time.
        now: UtcMs,
    },
    /// An operator's contact registered or refreshed (kept across a restart, see
    /// [`super::registrations`]). Droppable like `Event`: a lost refresh only means the
    /// contact is taken back with an earlier expiry, or not at all.
    Registration(super::registrations::SavedBinding),
    /// An operator's contact removed. Droppable like `Event`: a row left behind
    /// expires by itself.
    Unregistration {
        /// The operator.
        operator: String,
        /// The Contact URI.
        contact: String,
    },
    /// A call back of a worklist item (issue 16): started (`result: None`: the item is
    /// claimed by the operator, the call's row marked `callback`), or over (`Some`: the
    /// attempt is counted; an item not reached is open again). Never dropped.
    CallbackAttempt {
        /// The item.
        item: String,
        /// The call back's own record.
        call: RecordId,
        /// The operator who calls.
        operator: String,
        /// When.
        at: UtcMs,
        /// How it went, once over.
        result: Option<String>,
    },
}

/// A row of `refusals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRow {
    /// The first refusal of the row.
    pub since: UtcMs,
    /// The source, as fair sharing counts it.
    pub source: String,
    /// Why (`behind`, `source_rate`...).
    pub reason: String,
    /// INVITEs refused.
    pub count: u64,
    /// The first few distinct caller numbers.
    pub callers: Vec<String>,
}

impl Record {
    /// Essential records make a call's row: never dropped to make room. When the
    /// writer's queue is at its capacity a new call's start is refused (its call gets
    /// 503), while the updates and ends of calls already admitted are always queued:
    /// their number is bounded by the calls in progress, which the engine bounds.
    pub fn is_essential(&self) -> bool {
        matches!(
            self,
            Record::CallStarted(_) | Record::CallUpdated { .. } | Record::CallEnded(_) | Record::CallbackAttempt { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn record_ids_sort_by_time_and_differ() {
        let mut rng = SmallRng::seed_from_u64(7);
        let a = RecordId::generate(UtcMs(1_764_460_800_000), &mut rng);
        let b = RecordId::generate(UtcMs(1_764_460_800_001), &mut rng);
        let c = RecordId::generate(UtcMs(1_764_460_800_001), &mut rng);
        assert_eq!(a.as_str().len(), 26);
        assert!(a < b, "{a} {b}");
        assert_ne!(b, c);
        assert!(a.as_str().bytes().all(|x| CROCKFORD.contains(&x)));
        // Same time prefix (48 bits = first 10 characters).
        assert_eq!(b.as_str()[..10], c.as_str()[..10]);
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            assert_eq!(
                serde_json::to_string(&o).ok(),
                Some(format!("\"{}\"", o.as_str()))
            );
        }
        assert!("hung_up".parse::<Outcome>().is_err());
    }
}
