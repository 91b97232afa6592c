//! Audio codecs the gateway speaks with callers: G.711 (both laws), G.722 and Opus.
//!
//! G.711 needs no state beyond a table lookup and every SIP trunk has it; G.722
//! (wideband, RFC 3551 §4.5.2) and Opus (RFC 7587) are what softphones, WebRTC gateways
//! and IMS interconnects offer first, and an emergency gateway must answer them rather
//! than refuse the call. The per-call codec state (G.722 ADPCM, libopus) lives in
//! [`super::transcode`]; this type only names a codec and its RTP facts.

use std::fmt;

/// An audio codec, with its RTP facts (RFC 3551, RFC 7587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, static payload type 9: 16 kHz audio on an 8 kHz RTP clock
    /// (RFC 3551 §4.5.2, an erratum kept for compatibility).
    G722,
    /// Opus (RFC 7587): `opus/48000/2` in SDP whatever is sent, a 48 kHz RTP clock,
    /// a dynamic payload type.
    Opus,
}

/// The payload type we offer Opus on when we make the offer (any dynamic one is legal;
/// 111 is what most stacks use, which keeps traces readable).
pub const OPUS_OFFER_PT: u8 = 111;

impl Codec {
    /// Every codec the gateway implements, in the default order of preference.
    pub const ALL: [Codec; 4] = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus];

    /// The payload type we use in our own offers: the static one (RFC 3551 table 4),
    /// or [`OPUS_OFFER_PT`] for Opus, which has none.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
            Codec::Opus => OPUS_OFFER_PT,
        }
    }

    /// Encoding name as written in an SDP rtpmap line.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
        }
    }

    /// Case-insensitive lookup by SDP encoding name.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Lookup by static payload type, for offers that omit the rtpmap line.
    pub const fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            9 => Some(Codec::G722),
            _ => None,
        }
    }

    /// RTP clock rate, as written in the rtpmap line: 8000 for G.711 and G.722 (whose
    /// audio is 16 kHz: RFC 3551 §4.5.2), 48000 for Opus (RFC 7587 §4.1).
    pub const fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus => 48000,
        }
    }

    /// The rtpmap's encoding parameters (channels): Opus is always `/2` in SDP
    /// (RFC 7587 §7), even for mono; the others carry none.
    pub const fn rtpmap_channels(self) -> Option<&'static str> {
        match self {
            Codec::Opus => Some("2"),
            _ => None,
        }
    }

    /// The audio sampling rate we process the codec at: 8 kHz for G.711, 16 kHz for
    /// G.722 and for Opus (we code voice as wideband, not fullband).
    pub const fn audio_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 | Codec::Opus => 16000,
        }
    }

    /// Whether this is one of the two G.711 laws (one octet per 8 kHz sample).
    pub const fn is_g711(self) -> bool {
        matches!(self, Codec::Pcmu | Codec::Pcma)
    }

    /// RTP timestamp units in 20 ms of this codec's clock.
    pub const fn units_per_20ms(self) -> u32 {
        self.clock_rate() / 50
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
