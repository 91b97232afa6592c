//! RFC 4733 telephone-event (DTMF over RTP): payload decoding (§2.3) and a de-duplicating
//! receiver that turns the packet stream of one key press into exactly one [`Digit`].
//!
//! Why de-duplication is the whole job: a sender reports one key press as a series of
//! packets that all carry the RTP timestamp of the event's start (§2.5.1.2), updates the
//! duration every 50 ms or so, and sends the final packet with the E bit three times
//! (§2.5.1.4). Any of them may be lost, duplicated or reordered. A digit read twice, or
//! not at all, sends an ambulance call to the wrong department, so the receiver keys
//! every event by (SSRC, start timestamp) and reports it once:
//!
//! - the digit is reported when the event ends: at its first end packet, when a packet
//!   of a different event arrives first, or after [`END_TIMEOUT`] without any packet for
//!   it (all three end packets lost). That costs the length of the press in latency but
//!   gives the duration, and a long press stays one digit however many updates it has;
//! - an event that has been reported is remembered for [`DONE_MEMORY`]: later packets with
//!   its timestamp (retransmitted ends, reordered updates) are dropped;
//! - a new timestamp is a new press, even for the same key;
//! - a press longer than the 16-bit duration field (8.19 s at 8 kHz) continues in a new
//!   segment with a new timestamp (§2.5.2.3); that is recognised and stays one digit.
//!
//! Timestamps are compared only for equality, never for order, so a stream whose
//! timestamps jump (a sender that replays recordings, as SIPp does) loses no digits.

use std::collections::VecDeque;
use std::time::Duration;

use thiserror::Error;

use super::moment::Moment;
use super::rtp::RtpHeader;

/// Without any packet for this long, an event whose end packets were all lost is over.
/// Senders update at least every 50 ms (RFC 4733 §2.5.1.2); this tolerates four losses.
pub const END_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a reported event's timestamp is remembered to drop its late packets.
pub const DONE_MEMORY: Duration = Duration::from_secs(5);
/// At most this many reported events are remembered (bounds memory under a flood).
const DONE_CAPACITY: usize = 32;

/// A telephone-event payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rfc4733Error {
    /// The payload is shorter than the 4-byte event report (§2.3).
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    TooShort(usize),
}

/// One telephone-event report (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0–15 are the DTMF keys (RFC 4733 §3.2).
    pub event: u8,
    /// `E`: this report is (one of the copies of) the end of the event.
    pub end: bool,
    /// Power level of the tone in −dBm0, 0–63.
    pub volume: u8,
    /// Duration so far, in timestamp units, counted from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Decodes the first 4 bytes of a payload. Longer payloads are accepted and the rest
    /// ignored: §2.5.1.5 redundancy uses RFC 2198, not trailing reports.
    pub fn parse(payload: &[u8]) -> Result<Self, Rfc4733Error> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<4>() else {
            return Err(Rfc4733Error::TooShort(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The DTMF key of this event, if it is one.
    pub fn key(&self) -> Option<char> {
        event_key(self.event)
    }
}

/// The key for a DTMF event code (RFC 4733 §3.2 table 3): 0–9, `*`, `#`, `A`–`D`.
pub fn event_key(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One key press, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit<T> {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub key: char,
    /// When the key went down, as estimated from the first packet seen.
    pub at: T,
    /// How long the key was held.
    pub duration: Duration,
}

/// The event being received (not yet reported).
#[derive(Debug, Clone)]
struct Ongoing<T> {
    ssrc: u32,
    event: u8,
    key: char,
    at: T,
    last_packet: T,
    /// Timestamp of the current segment (the event's start unless it was long, §2.5.2.3).
    segment_ts: u32,
    /// Highest duration seen in the current segment.
    segment_duration: u16,
    /// Timestamp units covered by earlier segments of a long event.
    earlier_segments: u64,
    /// Start timestamps of the latest segments (at most [`DONE_CAPACITY`], all that
    /// `done` keeps of them), so they are remembered once reported. Bounded: crafted
    /// packets can make every packet a new segment of one endless press.
    segment_starts: Vec<u32>,
}

/// Turns telephone-event packets of one call into [`Digit`]s, each key press exactly once.
///
/// Sans-IO: feed packets with [`handle_packet`](Self::handle_packet), call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout), and
/// drain [`poll_digit`](Self::poll_digit) after each.
#[derive(Debug, Clone)]
pub struct DtmfReceiver<T> {
    clock_rate: u32,
    ongoing: Option<Ongoing<T>>,
    /// (ssrc, timestamp, reported at) of recently reported events and their segments.
    done: VecDeque<(u32, u32, T)>,
    digits: VecDeque<Digit<T>>,
}

impl<T: Moment> DtmfReceiver<T> {
    /// A receiver for a telephone-event stream with the given RTP clock rate (8000 in every
    /// narrowband offer; taken from the rtpmap line).
    pub fn new(clock_rate: u32) -> Self {
        DtmfReceiver {
            clock_rate: clock_rate.max(1),
            ongoing: None,
            done: VecDeque::new(),
            digits: VecDeque::new(),
        }
    }

    /// Feeds one telephone-event RTP packet (the payload type is the caller's to check).
    /// Events that are not DTMF keys (flash, tones) are ignored.
    pub fn handle_packet(
        &mut self,
        now: T,
        header: &RtpHeader,
        payload: &[u8],
    ) -> Result<(), Rfc4733Error> {
        let report = TelephoneEvent::parse(payload)?;
        self.forget_old(now);
        let Some(key) = report.key() else {
            return Ok(());
        };
        let (ssrc, ts) = (header.ssrc, header.timestamp);
        if self.done.iter().any(|(s, t, _)| *s == ssrc && *t == ts) {
            return Ok(()); // a late or repeated packet of an event already reported
        }

        if let Some(ongoing) = self.ongoing.as_mut() {
            if ongoing.ssrc == ssrc && ongoing.segment_ts == ts {
                ongoing.last_packet = now;
                ongoing.segment_duration = ongoing.segment_duration.max(report.duration);
                if report.end {
                    self.finish(now);
                }
                return Ok(());
            }
            if ongoing.ssrc == ssrc && is_next_segment(ongoing, report.event, ts) {
                ongoing.last_packet = now;
                ongoing.earlier_segments += u64::from(ts.wrapping_sub(ongoing.segment_ts));
                ongoing.segment_ts = ts;
                ongoing.segment_duration = report.duration;
                if ongoing.segment_starts.len() >= DONE_CAPACITY {
                    ongoing.segment_starts.remove(0);
                }
                ongoing.segment_starts.push(ts);
                if report.end {
                    self.finish(now);
                }
                return Ok(());
            }
            // A different event began: the ongoing one ended and its end packets were lost.
            self.finish(now);
        }

        let elapsed = self.units_to_duration(u64::from(report.duration));
        self.ongoing = Some(Ongoing {
            ssrc,
            event: report.event,
            key,
            at: now.before(elapsed),
            last_packet: now,
            segment_ts: ts,
            segment_duration: report.duration,
            earlier_segments: 0,
            segment_starts: vec![ts],
        });
        if report.end {
            self.finish(now); // only the end packets arrived: still one digit
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<T> {
        self.ongoing
            .as_ref()
            .map(|o| o.last_packet.after(END_TIMEOUT))
    }

    /// Reports an event whose end packets never came.
    pub fn handle_timeout(&mut self, now: T) {
        if let Some(ongoing) = &self.ongoing {
            if now >= ongoing.last_packet.after(END_TIMEOUT) {
                self.finish(now);
            }
        }
        self.forget_old(now);
    }

    /// The next digit, in the order the keys were pressed.
    pub fn poll_digit(&mut self) -> Option<Digit<T>> {
        self.digits.pop_front()
    }

    fn finish(&mut self, now: T) {
        let Some(o) = self.ongoing.take() else {
            return;
        };
        let units = o.earlier_segments + u64::from(o.segment_duration);
        self.digits.push_back(Digit {
            key: o.key,
            at: o.at,
            duration: self.units_to_duration(units),
        });
        for ts in o.segment_starts {
            if self.done.len() == DONE_CAPACITY {
                self.done.pop_front();
            }
            self.done.push_back((o.ssrc, ts, now));
        }
    }

    fn forget_old(&mut self, now: T) {
        while let Some((_, _, at)) = self.done.front() {
            if now.since(*at) > DONE_MEMORY {
                self.done.pop_front();
            } else {
                break;
            }
        }
    }

    fn units_to_duration(&self, units: u64) -> Duration {
        let micros = units.saturating_mul(1_000_000) / u64::from(self.clock_rate);
        Duration::from_micros(micros)
    }
}

/// A long event continues in a new segment whose timestamp is the previous one plus the
/// (full) previous duration (RFC 4733 §2.5.2.3). Allow the last update or two of the old
/// segment to have been lost, but not so much that a re-press of the same key after a
/// lost end would look like a continuation.
fn is_next_segment<T>(ongoing: &Ongoing<T>, event: u8, ts: u32) -> bool {
    const FULL: u32 = u16::MAX as u32;
    const SLACK: u32 = 1600; // 200 ms at 8 kHz
    let delta = ts.wrapping_sub(ongoing.segment_ts);
    event == ongoing.event
        && u32::from(ongoing.segment_duration) + SLACK >= FULL
        && delta >= u32::from(ongoing.segment_duration)
        && delta <= FULL + 160
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// One packet of an endless press of `#`: each a full segment, each the next one.
    fn segment(rx: &mut DtmfReceiver<Duration>, now: Duration, ts: u32, end: bool) {
        let header = RtpHeader { marker: false, payload_type: 101, sequence: 0, timestamp: ts, ssrc: 7 };
        let [d0, d1] = u16::MAX.to_be_bytes();
        let flags = if end { 0x80 | 10 } else { 10 };
        assert!(rx.handle_packet(now, &header, &[11, flags, d0, d1]).is_ok());
    }

    #[test]
    fn an_endless_press_of_crafted_segments_keeps_a_bounded_memory_and_stays_one_digit() {
        let mut rx: DtmfReceiver<Duration> = DtmfReceiver::new(8000);
        let mut ts = 1000u32;
        for i in 0..10_000u64 {
            segment(&mut rx, Duration::from_millis(i), ts, false);
            ts = ts.wrapping_add(u32::from(u16::MAX));
        }
        let kept = rx.ongoing.as_ref().map_or(0, |o| o.segment_starts.len());
        assert_eq!(kept, DONE_CAPACITY, "10,000 segments, {DONE_CAPACITY} remembered");
        segment(&mut rx, Duration::from_millis(10_000), ts, true);
        assert_eq!(rx.poll_digit().map(|d| d.key), Some('#'));
        assert!(rx.poll_digit().is_none());
        // A retransmitted end of one of the last segments is still known.
        segment(&mut rx, Duration::from_millis(10_001), ts.wrapping_sub(u32::from(u16::MAX)), true);
        assert!(rx.poll_digit().is_none(), "no second digit");
        assert!(rx.done.len() <= DONE_CAPACITY);
    }
}
