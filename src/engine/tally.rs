//! Counters for `/metrics` the engine keeps as it works: SIP messages in and out by
//! method and status, calls ended by outcome and department, answer times.
//!
//! They live in [`super::Stats`] and reach the HTTP side in the published snapshot.
//! Each count is O(1) on the signalling thread with no allocation: a message's first
//! line is read up to its first space (at most [`LONGEST_METHOD`] + 1 bytes compared)
//! and an array slot incremented. The label sets are fixed by the code, never by the
//! network: an unknown method is `other`, a status outside 100–699 is class `other`;
//! departments are the configured queues (a new department's entry is made once).
//!
//! How a call ended is decided once ([`super::EndReason::outcome`]) for both the
//! metrics and the call record (the runtime's recorder), so `cc112_calls_ended_total`
//! and the shift report speak of the same outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Histogram;
use crate::store::record::Outcome;

/// The request methods counted by name; anything else is `other` (the last slot).
pub const SIP_METHODS: [&str; 15] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK", "UPDATE", "SUBSCRIBE", "NOTIFY", "MESSAGE",
    "REFER", "PUBLISH", "other",
];

/// The longest method of [`SIP_METHODS`].
const LONGEST_METHOD: usize = 9;

/// Response classes; a status outside 100–699 is `other` (the last slot).
pub const STATUS_CLASSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "other"];

/// The statuses counted one by one (responses sent: the engine writes them).
const STATUS_CODES: usize = 600;

/// Answer-time buckets (seconds, as microseconds): the NENA target is 90 % within 15 s.
pub const ANSWER_BOUNDS_US: &[u64] = &[1_000_000, 2_000_000, 5_000_000, 10_000_000, 15_000_000, 20_000_000, 30_000_000, 60_000_000, 120_000_000];

/// The department of a call that never reached a queue.
pub const NO_DEPARTMENT: &str = "none";

/// SIP messages by method (requests) and status (responses), in and out.
#[derive(Clone, PartialEq, Eq)]
pub struct SipTally {
    /// Requests received, by [`SIP_METHODS`] slot.
    pub requests_in: [u64; SIP_METHODS.len()],
    /// Responses received, by [`STATUS_CLASSES`] slot.
    pub responses_in: [u64; STATUS_CLASSES.len()],
    /// Requests sent, by [`SIP_METHODS`] slot.
    pub requests_out: [u64; SIP_METHODS.len()],
    /// Responses sent, by status: `responses_out[code - 100]`.
    pub responses_out: Vec<u64>,
}

impl Default for SipTally {
    fn default() -> SipTally {
        SipTally {
            requests_in: [0; SIP_METHODS.len()],
            responses_in: [0; STATUS_CLASSES.len()],
            requests_out: [0; SIP_METHODS.len()],
            responses_out: vec![0; STATUS_CODES],
        }
    }
}

/// Only the slots counted (the engine's stop logs its counters on one line).
impl std::fmt::Debug for SipTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let named = |names: &'static [&'static str], counts: &[u64]| -> Vec<(&'static str, u64)> { names.iter().copied().zip(counts.iter().copied()).filter(|(_, n)| *n > 0).collect() };
        f.debug_struct("SipTally")
            .field("requests_in", &named(&SIP_METHODS, &self.requests_in))
            .field("responses_in", &named(&STATUS_CLASSES, &self.responses_in))
            .field("requests_out", &named(&SIP_METHODS, &self.requests_out))
            .field("responses_out", &self.statuses_sent().collect::<Vec<_>>())
            .finish()
    }
}

/// What a message's first line says: a request's method slot or a response's status.
enum FirstLine {
    Request(usize),
    Response(Option<u16>),
}

fn first_line(bytes: &[u8]) -> FirstLine {
    if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
        let code = match rest.get(..3) {
            Some(d) if d.iter().all(u8::is_ascii_digit) => d.iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0')),
            _ => 0,
        };
        return FirstLine::Response((100..=699).contains(&code).then_some(code));
    }
    let head = bytes.get(..bytes.len().min(LONGEST_METHOD + 1)).unwrap_or_default();
    let method = head.split(|b| *b == b' ').next().unwrap_or_default();
    let slot = SIP_METHODS.iter().position(|m| m.as_bytes() == method).unwrap_or(SIP_METHODS.len() - 1);
    FirstLine::Request(slot)
}

fn bump(slot: Option<&mut u64>) {
    if let Some(n) = slot {
        *n = n.saturating_add(1);
    }
}

impl SipTally {
    /// A message received (parsed or not).
    pub fn received(&mut self, bytes: &[u8]) {
        match first_line(bytes) {
            FirstLine::Request(i) => bump(self.requests_in.get_mut(i)),
            FirstLine::Response(code) => {
                let class = code.map_or(STATUS_CLASSES.len() - 1, |c| usize::from(c / 100 - 1));
                bump(self.responses_in.get_mut(class));
            }
        }
    }

    /// A message the engine sends.
    pub fn sent(&mut self, bytes: &[u8]) {
        match first_line(bytes) {
            FirstLine::Request(i) => bump(self.requests_out.get_mut(i)),
            FirstLine::Response(Some(code)) => bump(self.responses_out.get_mut(usize::from(code - 100))),
            FirstLine::Response(None) => {}
        }
    }

    /// The statuses sent at least once, with their counts.
    pub fn statuses_sent(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (100u16..).zip(self.responses_out.iter().copied()).filter(|(_, n)| *n > 0)
    }
}

/// One department's calls: how they ended and how long they waited for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentTally {
    /// Calls ended, by [`Outcome::ALL`] slot.
    pub ended: [u64; Outcome::ALL.len()],
    /// From the INVITE accepted to the operator's answer, for calls an operator answered.
    pub answer_time: Histogram,
}

impl Default for DepartmentTally {
    fn default() -> DepartmentTally {
        DepartmentTally { ended: [0; Outcome::ALL.len()], answer_time: Histogram::new(ANSWER_BOUNDS_US) }
    }
}

/// Calls per department (the queue the IVR routed them to, or [`NO_DEPARTMENT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallTally {
    /// By department name.
    pub departments: BTreeMap<String, DepartmentTally>,
}

impl CallTally {
    fn department(&mut self, name: Option<&str>) -> Option<&mut DepartmentTally> {
        let name = name.unwrap_or(NO_DEPARTMENT);
        if !self.departments.contains_key(name) {
            self.departments.insert(name.to_string(), DepartmentTally::default());
        }
        self.departments.get_mut(name)
    }

    /// An operator answered a call of `department` (`None`: not routed), `waited`
    /// after its INVITE was accepted.
    pub fn answered(&mut self, department: Option<&str>, waited: Duration) {
        if let Some(d) = self.department(department) {
            d.answer_time.observe(waited);
        }
    }

    /// A call of `department` (`None`: not routed) ended with `outcome`.
    pub fn ended(&mut self, department: Option<&str>, outcome: Outcome) {
        let slot = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        bump(self.department(department).and_then(|d| d.ended.get_mut(slot)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_are_counted_by_method_and_status_and_hostile_ones_go_to_other() {
        let mut t = SipTally::default();
        for m in [&b"INVITE sip:112@x SIP/2.0\r\n"[..], b"BYE sip:a SIP/2.0", b"FOOBAR sip:a SIP/2.0", b"INVITEX sip:a", b"", b"\xff\xfe"] {
            t.received(m);
        }
        for m in [&b"SIP/2.0 180 Ringing\r\n"[..], b"SIP/2.0 200 OK", b"SIP/2.0 999 Odd", b"SIP/2.0 2"] {
            t.received(m);
        }
        let slot = |name: &str| SIP_METHODS.iter().position(|m| *m == name).unwrap();
        assert_eq!(t.requests_in[slot("INVITE")], 1);
        assert_eq!(t.requests_in[slot("BYE")], 1);
        assert_eq!(t.requests_in[slot("other")], 4);
        assert_eq!(t.responses_in, [1, 1, 0, 0, 0, 0, 2]);
        t.sent(b"SIP/2.0 503 Service Unavailable\r\n");
        t.sent(b"SIP/2.0 503 Service Unavailable\r\n");
        t.sent(b"SIP/2.0 100 Trying\r\n");
        t.sent(b"INVITE sip:op@x SIP/2.0\r\n");
        assert_eq!(t.statuses_sent().collect::<Vec<_>>(), vec![(100, 1), (503, 2)]);
        assert_eq!(t.requests_out[slot("INVITE")], 1);
    }

    #[test]
    fn calls_are_counted_per_department_and_unrouted_ones_under_none() {
        let mut t = CallTally::default();
        t.ended(Some("fire"), Outcome::Answered);
        t.ended(None, Outcome::AbandonedIvr);
        t.answered(Some("fire"), Duration::from_secs(3));
        assert_eq!(t.departments.keys().collect::<Vec<_>>(), vec!["fire", "none"]);
        assert_eq!(t.departments["fire"].ended[0], 1);
        assert_eq!(t.departments["fire"].answer_time.count(), 1);
        assert_eq!(t.departments["none"].ended[1], 1);
    }
}
