//! RTP and RTCP packet framing (RFC 3550 §5.1, §6.4, appendix A.1–A.2) and sequence-number
//! extension for loss and jitter accounting.
//!
//! Why our own codec rather than `rtc-rtp` 0.21: `rtc-rtp` does not panic on arbitrary
//! input (its reads are length-checked), but it accepts what RFC 3550 §5.1 and A.1 tell a
//! receiver to reject, and it mis-slices some valid packets:
//! - any version (0, 1, 3) is accepted;
//! - a padding count of 0 is accepted (the count includes itself, so 0 is impossible);
//! - an RFC 8285 one-byte extension with the reserved id 15 stops the parse without
//!   skipping the rest of the extension block, which then becomes part of the payload;
//! - it copies header extensions and payload into new `Bytes` for every packet.
//!
//! G.711 and telephone-event need none of RFC 8285, so this module borrows from the
//! datagram (no allocation), skips the extension block as a whole, and reports every
//! malformation as a typed [`RtpError`]. The tests cross-check it against `rtc-rtp` on
//! arbitrary well-formed packets so the two cannot silently disagree.

use thiserror::Error;

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// The only RTP version in use (RFC 3550 §5.1, `V`).
pub const RTP_VERSION: u8 = 2;
/// RFC 3550 A.1: a forward sequence jump larger than this starts a new source.
pub const MAX_DROPOUT: i16 = 3000;
/// RFC 3550 A.1: a backward sequence jump larger than this starts a new source.
pub const MAX_MISORDER: i16 = 100;

/// Why a datagram is not a valid RTP packet. Each variant names the field that lied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer than 12 bytes: no room for the fixed header.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte fixed header")]
    TooShort {
        /// Bytes in the datagram.
        len: usize,
    },
    /// `V` is not 2 (RFC 3550 A.1: the first validity check).
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    /// The CSRC count claims more identifiers than the packet holds.
    #[error("CSRC count {count} runs past the end of a {len}-byte packet")]
    CsrcPastEnd {
        /// The header's `CC` field (0-15).
        count: u8,
        /// Bytes in the datagram.
        len: usize,
    },
    /// The `X` bit is set but the extension header or its body is cut off.
    #[error("header extension of {words} words runs past the end of a {len}-byte packet")]
    ExtensionPastEnd {
        /// The extension's length in 32-bit words; 0 when its own 4-byte header
        /// is cut off.
        words: u16,
        /// Bytes in the datagram.
        len: usize,
    },
    /// The `P` bit is set but there is no payload to hold the count.
    #[error("padding bit set on a packet with no room for the padding count")]
    PaddingWithoutCount,
    /// The padding count is 0 or larger than the bytes after the header (RFC 3550 §5.1).
    #[error("padding count {count} is invalid for {available} bytes after the header")]
    BadPadding {
        /// The last byte of the datagram: padding bytes including itself.
        count: u8,
        /// Bytes after the header, CSRCs and extension.
        available: usize,
    },
}

/// The header fields a receiver acts on and a sender writes (RFC 3550 §5.1).
/// CSRCs, extensions and padding are parsed past, not kept here: see [`RtpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// `M`: for audio, the first packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// `PT`, 7 bits.
    pub payload_type: u8,
    /// Sequence number, +1 per packet, wrapping.
    pub sequence: u16,
    /// Sampling instant of the first octet of the payload, in the payload's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// A parsed RTP packet borrowing from the datagram it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Fixed header fields.
    pub header: RtpHeader,
    /// The CSRC list as raw bytes (4 per identifier); use [`RtpPacket::csrcs`].
    csrc: &'a [u8],
    /// Header extension profile and body, when `X` is set (RFC 3550 §5.3.1).
    pub extension: Option<(u16, &'a [u8])>,
    /// Payload, without padding.
    pub payload: &'a [u8],
    /// Number of padding octets removed from the end (0 when `P` is clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates one RTP packet (RFC 3550 §5.1 and A.1). Never panics.
    pub fn parse(data: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let len = data.len();
        let Some(&[b0, b1, s0, s1, t0, t1, t2, t3, i0, i1, i2, i3]) =
            data.first_chunk::<RTP_HEADER_LEN>()
        else {
            return Err(RtpError::TooShort { len });
        };
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let header = RtpHeader {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([i0, i1, i2, i3]),
        };

        let csrc_end = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
        let Some(csrc) = data.get(RTP_HEADER_LEN..csrc_end) else {
            return Err(RtpError::CsrcPastEnd {
                count: csrc_count,
                len,
            });
        };

        let mut offset = csrc_end;
        let extension = if has_extension {
            let Some(&[p0, p1, w0, w1]) = data.get(offset..).and_then(<[u8]>::first_chunk::<4>)
            else {
                return Err(RtpError::ExtensionPastEnd { words: 0, len });
            };
            let profile = u16::from_be_bytes([p0, p1]);
            let words = u16::from_be_bytes([w0, w1]);
            let body_start = offset + 4;
            let body_end = body_start + 4 * usize::from(words);
            let Some(body) = data.get(body_start..body_end) else {
                return Err(RtpError::ExtensionPastEnd { words, len });
            };
            offset = body_end;
            Some((profile, body))
        } else {
            None
        };

        let rest = data.get(offset..).unwrap_or(&[]);
        let (payload, padding) = if has_padding {
            let Some(&count) = rest.last() else {
                return Err(RtpError::PaddingWithoutCount);
            };
            let available = rest.len();
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            (
                rest.get(..available - usize::from(count)).unwrap_or(&[]),
                count,
            )
        } else {
            (rest, 0)
        };

        Ok(RtpPacket {
            header,
            csrc,
            extension,
            payload,
            padding,
        })
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .filter_map(|c| c.first_chunk::<4>())
            .map(|c| u32::from_be_bytes(*c))
    }

    /// Number of CSRC identifiers (`CC`).
    pub fn csrc_count(&self) -> usize {
        self.csrc.len() / 4
    }
}

impl RtpHeader {
    /// The 12-byte fixed header (no CSRC, no extension), as [`write`](Self::write) writes it.
    pub fn to_bytes(&self) -> [u8; RTP_HEADER_LEN] {
        let mut b = [0u8; RTP_HEADER_LEN];
        let [b0, b1, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = &mut b;
        *b0 = RTP_VERSION << 6;
        *b1 = u8::from(self.marker) << 7 | (self.payload_type & 0x7F);
        [*s0, *s1] = self.sequence.to_be_bytes();
        [*t0, *t1, *t2, *t3] = self.timestamp.to_be_bytes();
        [*c0, *c1, *c2, *c3] = self.ssrc.to_be_bytes();
        b
    }

    /// Appends this header (no CSRC, no extension, no padding) and `payload` to `out`:
    /// everything the gateway sends is a single-source stream of one codec or of
    /// telephone-event.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(RTP_HEADER_LEN + payload.len());
        out.push(RTP_VERSION << 6);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

/// Why a datagram is not a valid compound RTCP packet (RFC 3550 §6.1, A.2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than 4 bytes left where a packet header should start.
    #[error("RTCP packet header cut off at offset {offset} of {len}")]
    Truncated {
        /// Where the packet would start in the datagram.
        offset: usize,
        /// Bytes in the datagram.
        len: usize,
    },
    /// `V` is not 2.
    #[error("RTCP version {version} at offset {offset} is not 2")]
    BadVersion {
        /// The `V` field found.
        version: u8,
        /// Where the packet starts in the datagram.
        offset: usize,
    },
    /// The first packet of a compound packet must be SR or RR (RFC 3550 §6.1).
    #[error("compound RTCP starts with packet type {0}, not SR (200) or RR (201)")]
    NotReportFirst(u8),
    /// A length field points past the end of the datagram.
    #[error("RTCP length {words} words at offset {offset} runs past the end of {len} bytes")]
    LengthPastEnd {
        /// The length field: the packet's length in 32-bit words minus one
        /// (RFC 3550 §6.4.1).
        words: u16,
        /// Where the packet starts in the datagram.
        offset: usize,
        /// Bytes in the datagram.
        len: usize,
    },
    /// Only the last packet of a compound packet may carry padding (RFC 3550 §6.4.1).
    #[error("padding bit set on a non-final RTCP packet at offset {offset}")]
    PaddingNotLast {
        /// Where the packet starts in the datagram.
        offset: usize,
    },
    /// The padding count is 0 or larger than the packet body.
    #[error("RTCP padding count {count} is invalid for a body of {available} bytes")]
    BadPadding {
        /// The packet's last byte: padding bytes including itself.
        count: u8,
        /// Bytes after the packet's 4-byte header.
        available: usize,
    },
}

/// SR packet type (RFC 3550 §6.4.1).
pub const RTCP_SR: u8 = 200;
/// RR packet type (RFC 3550 §6.4.2).
pub const RTCP_RR: u8 = 201;

/// One packet inside a compound RTCP packet, not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacketRef<'a> {
    /// The 5-bit count field (reception reports, sources, or subtype by packet type).
    pub count: u8,
    /// Packet type (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, ...).
    pub packet_type: u8,
    /// Everything after the 4-byte header, padding removed.
    pub body: &'a [u8],
}

/// Validates the structure of a compound RTCP packet (RFC 3550 A.2: version, first packet
/// SR/RR, padding only on the last, lengths summing to the datagram) and returns its
/// packets. Contents are not interpreted yet: that is the RTCP issue item. Never panics.
pub fn parse_rtcp_compound(data: &[u8]) -> Result<Vec<RtcpPacketRef<'_>>, RtcpError> {
    let len = data.len();
    let mut packets = Vec::new();
    let mut offset = 0;
    while offset < len || packets.is_empty() {
        let Some(&[b0, packet_type, l0, l1]) =
            data.get(offset..).and_then(<[u8]>::first_chunk::<4>)
        else {
            return Err(RtcpError::Truncated { offset, len });
        };
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { version, offset });
        }
        let has_padding = b0 & 0x20 != 0;
        let count = b0 & 0x1F;
        let words = u16::from_be_bytes([l0, l1]);
        if packets.is_empty() && packet_type != RTCP_SR && packet_type != RTCP_RR {
            return Err(RtcpError::NotReportFirst(packet_type));
        }
        let end = offset + 4 * (usize::from(words) + 1);
        let Some(body) = data.get(offset + 4..end) else {
            return Err(RtcpError::LengthPastEnd { words, offset, len });
        };
        let body = if has_padding {
            if end != len {
                return Err(RtcpError::PaddingNotLast { offset });
            }
            let available = body.len();
            match body.last() {
                Some(&c) if c != 0 && usize::from(c) <= available => {
                    body.get(..available - usize::from(c)).unwrap_or(&[])
                }
                other => {
                    return Err(RtcpError::BadPadding {
                        count: other.copied().unwrap_or(0),
                        available,
                    })
                }
            }
        } else {
            body
        };
        packets.push(RtcpPacketRef {
            count,
            packet_type,
            body,
        });
        offset = end;
    }
    Ok(packets)
}

/// An RTP sequence number extended to 64 bits, so loss and reordering can be counted
/// across the 16-bit wrap (RFC 3550 A.1 keeps a separate cycle count; this is the same
/// idea in one number, like str0m's `SeqNo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The 16-bit sequence number as it appears on the wire.
    pub fn wire(self) -> u16 {
        // Truncation is the point.
        (self.0 & 0xFFFF) as u16
    }
}

/// Extends a 16-bit sequence number to the [`SeqNo`] nearest to `previous`: the candidate in
/// the previous, same or next 65,536-cycle whose distance is smallest. Without a previous
/// value the first cycle is 1 (not 0), so a packet reordered from before the first one
/// received can still be placed below it.
pub fn extend_seq(previous: Option<SeqNo>, wire: u16) -> SeqNo {
    const CYCLE: u64 = 1 << 16;
    let Some(SeqNo(prev)) = previous else {
        return SeqNo(CYCLE + u64::from(wire));
    };
    let cycle = prev >> 16;
    let candidates = [cycle.checked_sub(1), Some(cycle), cycle.checked_add(1)];
    let mut best = (prev & !0xFFFF) | u64::from(wire);
    let mut best_distance = u64::MAX;
    for c in candidates.into_iter().flatten() {
        let Some(value) = c
            .checked_mul(CYCLE)
            .and_then(|v| v.checked_add(u64::from(wire)))
        else {
            continue;
        };
        let distance = value.abs_diff(prev);
        if distance < best_distance {
            best = value;
            best_distance = distance;
        }
    }
    SeqNo(best)
}

/// Keeps the highest extended sequence number seen on one stream and extends new ones
/// against it, so a late packet is placed below the maximum instead of a cycle above.
#[derive(Debug, Clone, Default)]
pub struct SeqExtender {
    max: Option<SeqNo>,
}

impl SeqExtender {
    /// A fresh extender for a new SSRC.
    pub fn new() -> Self {
        Self::default()
    }

    /// Extends `wire` and updates the maximum.
    pub fn extend(&mut self, wire: u16) -> SeqNo {
        let ext = extend_seq(self.max, wire);
        if self.max.is_none_or(|m| ext > m) {
            self.max = Some(ext);
        }
        ext
    }

    /// Highest extended sequence number seen so far.
    pub fn max(&self) -> Option<SeqNo> {
        self.max
    }
}
