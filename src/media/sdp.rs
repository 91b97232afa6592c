//! SDP offer/answer (RFC 3264) for the gateway's codecs: PCMU, PCMA, G.722, Opus.
//!
//! This module owns the negotiation decisions: which m-line carries the call, which codec
//! we use (ours decide, by the `[media] codecs` preference order: the first of ours that
//! the offer has), whether RFC 4733 telephone-event is used, the direction and the
//! remote RTP address. Codecs are recognised by their rtpmap (`PCMU/8000`, `PCMA/8000`,
//! `G722/8000`, `opus/48000/2`, RFC 3551 and RFC 7587) or, without one, by the static
//! payload types 0, 8 and 9. An Opus offer's fmtp parameters (`useinbandfec`,
//! `usedtx`, `maxplaybackrate`...) never stand in the way: libopus decodes whatever the
//! sender chose; our answer says we play back and capture wideband (16 kHz). Parsing and printing SDP text is `rtc-sdp`'s job; it is sans-IO
//! and so is this module: bytes in, text and a [`Negotiated`] summary out.
//!
//! Every input is untrusted network data: nothing here panics on any bytes, and errors
//! quote the peer's text only up to a small bound.

use std::fmt::Write as _;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaDescription, MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};
use rtc_sdp::SessionDescription;

use crate::media::Codec;

/// The payload type we offer telephone-event on. 101 is what most SIP stacks use, which
/// makes traces easy to read; any dynamic number would be legal.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Packetisation we send: 20 ms, the G.711 default every endpoint accepts.
const PTIME_MS: u32 = 20;

/// Bound on peer text quoted in errors, so a hostile body cannot bloat logs.
const QUOTE_LIMIT: usize = 160;

/// Our side of the media session: where we receive RTP and the o= line identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address the RTP socket is reachable on (goes in c= and o=).
    pub addr: IpAddr,
    /// RTP port (RTCP is port + 1, RFC 3550 convention).
    pub port: u16,
    /// o= session id: stable for the dialog.
    pub session_id: u64,
    /// o= session version: the caller increments it on every new offer/answer.
    pub session_version: u64,
}

/// What a completed offer/answer exchange decided for the audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    /// The codec both sides send.
    pub codec: Codec,
    /// Payload type carrying `codec` (the number the remote used; 0/8 unless it remapped).
    pub payload_type: u8,
    /// Where to send RTP; `None` when c= is 0.0.0.0 (old-style hold), absent, or not a
    /// unicast IP literal (we resolve no names in the media path).
    pub remote: Option<SocketAddr>,
    /// The REMOTE's payload type for telephone-event: RFC 4733 digits we send use it
    /// and digits we receive arrive on it. `None` when the remote does not do RFC 4733,
    /// so DTMF can only be detected in-band.
    pub telephone_event: Option<u8>,
    /// The clock of `telephone_event`: 8000, or 48000 when the codec is Opus and the
    /// remote offered telephone-event/48000 (RFC 4733 §2.1: the event clock is the
    /// audio's; we prefer it on Opus, and take /8000 when that is all there is).
    pub telephone_event_rate: u32,
    /// Our direction, i.e. the remote's attribute mirrored: `SendOnly` means we send and
    /// do not expect to receive.
    pub direction: Direction,
    /// The remote's a=ptime, if it gave one.
    pub ptime_ms: Option<u32>,
}

/// RFC 3264 §5.1 stream direction, from the point of view of the side that states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways (the default when no attribute is present).
    SendRecv,
    /// Only sends.
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither (e.g. hold in both directions).
    Inactive,
}

impl Direction {
    /// The direction the other side must take (RFC 3264 §6.1).
    pub fn mirror(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(key: &str) -> Option<Direction> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// Why no media session could be agreed. Each maps to a SIP answer upstream (400 or 488).
#[derive(Debug, thiserror::Error)]
pub enum SdpError {
    /// The body is not SDP we can read.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No audio m-line with a non-zero port: nothing to answer with.
    #[error("no audio stream in the offer")]
    NoAudio,
    /// Audio was offered, but in no codec of ours over plain RTP.
    #[error("no common codec; offered: {offered}")]
    NoCommonCodec {
        /// What the peer offered, for the log line and the call record.
        offered: String,
    },
}

/// Build our answer to a remote offer; our codec preference order `prefs` decides (first
/// of ours that the offer has).
///
/// The answer has as many m-lines as the offer, in order (RFC 3264 §6). The first audio
/// m-line over RTP/AVP(F) that shares a codec with us is accepted; all others (video, a
/// second audio stream, SRTP) are rejected with port 0, because the gateway bridges one
/// audio stream and nothing else.
pub fn answer(
    offer: &[u8],
    local: &LocalMedia,
    prefs: &[Codec],
) -> Result<(String, Negotiated), SdpError> {
    let sdp = parse(offer)?;
    let (index, chosen) = choose_stream(&sdp, prefs, Preference::Ours)?;
    let offered_md = sdp
        .media_descriptions
        .get(index)
        .ok_or_else(|| SdpError::Malformed("chosen m-line vanished".into()))?;

    let mut media = Vec::with_capacity(sdp.media_descriptions.len());
    for (i, md) in sdp.media_descriptions.iter().enumerate() {
        if i == index {
            media.push(audio_media(
                local.port,
                md.media_name.protos.clone(),
                &[(chosen.codec, chosen.payload_type)],
                chosen.telephone_event.map(|pt| {
                    (pt, chosen.telephone_event_rate, te_events_for(offered_md, pt))
                }),
                chosen.direction,
            ));
        } else {
            media.push(rejected(md));
        }
    }
    let text = render(local, media);
    Ok((text, chosen))
}

/// Our offer (for an INVITE without SDP, or the operator leg): all prefs +
/// telephone-event/8000 as payload 101, a=ptime:20, sendrecv.
pub fn offer(local: &LocalMedia, prefs: &[Codec]) -> String {
    let codecs: Vec<(Codec, u8)> = prefs.iter().map(|&c| (c, c.payload_type())).collect();
    let media = audio_media(
        local.port,
        vec!["RTP".into(), "AVP".into()],
        &codecs,
        Some((TELEPHONE_EVENT_PT, 8000, "0-16")),
        Direction::SendRecv,
    );
    render(local, vec![media])
}

/// Read the remote's answer to our offer (the ACK of an offer-less INVITE, or an
/// operator's 200).
///
/// Among the answer's formats the answerer's order wins (RFC 3264 §6.1: the answerer
/// lists what it prefers first, and both sides should send the same codec); `prefs`
/// only filters out what we cannot handle.
pub fn accept_answer(answer: &[u8], prefs: &[Codec]) -> Result<Negotiated, SdpError> {
    let sdp = parse(answer)?;
    choose_stream(&sdp, prefs, Preference::Theirs).map(|(_, n)| n)
}

/// Whose order picks the codec when several are shared.
#[derive(Clone, Copy)]
enum Preference {
    /// Answering: our `prefs` order (we decide).
    Ours,
    /// Reading an answer: the m-line's order (they decided).
    Theirs,
}

/// Strict parse first; if that fails, one retry on a normalised copy (see [`lenient`]).
/// An emergency call must not fail on a harmless ordering slip of some old gateway, but
/// the strict path stays first so well-formed bodies are read exactly as sent.
fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let strict = SessionDescription::unmarshal(&mut Cursor::new(body));
    match strict {
        Ok(sdp) => Ok(sdp),
        Err(e) => lenient(body)
            .and_then(|fixed| SessionDescription::unmarshal(&mut Cursor::new(fixed)).ok())
            .ok_or_else(|| SdpError::Malformed(quote(&e.to_string()))),
    }
}

/// Repair what rtc-sdp's strict RFC 4566 grammar refuses but is harmless to us:
/// session- and media-level lines out of order (e.g. `c=` after `a=`), a missing `s=` or
/// `t=`, and an `o=` session id or version beyond 64 bits (we never use the remote's o=).
/// Returns `None` when there is nothing SDP-like to repair: it must start with `v=`.
fn lenient(body: &[u8]) -> Option<String> {
    const SESSION_ORDER: &str = "vosiuepcbtrzka";
    const MEDIA_ORDER: &str = "icbka";
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    if !first.starts_with("v=") {
        return None;
    }
    let mut session: Vec<(usize, String)> = vec![(0, first.to_string())];
    let mut media: Vec<(String, Vec<(usize, String)>)> = Vec::new();
    for line in lines {
        let (kind, _) = line.split_once('=')?;
        let mut chars = kind.chars();
        let (Some(kind), None) = (chars.next(), chars.next()) else {
            return None;
        };
        if kind == 'm' {
            media.push((line.to_string(), Vec::new()));
        } else if let Some((_, lines)) = media.last_mut() {
            if let Some(rank) = MEDIA_ORDER.find(kind) {
                lines.push((rank, line.to_string()));
            }
        } else if let Some(rank) = SESSION_ORDER.find(kind) {
            let line = if kind == 'o' {
                clamp_origin(line)
            } else {
                line.to_string()
            };
            session.push((rank, line));
        }
    }
    if !session.iter().any(|(_, l)| l.starts_with("s=")) {
        session.push((SESSION_ORDER.find('s')?, "s=-".into()));
    }
    if !session.iter().any(|(_, l)| l.starts_with("t=")) {
        session.push((SESSION_ORDER.find('t')?, "t=0 0".into()));
    }
    // Stable sorts: lines of one kind keep their order (rtpmap before its fmtp, etc.).
    session.sort_by_key(|(rank, _)| *rank);
    let mut out = String::with_capacity(body.len() + 16);
    for (_, l) in &session {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for (m, mut lines) in media {
        lines.sort_by_key(|(rank, _)| *rank);
        out.push_str(&m);
        out.push_str("\r\n");
        for (_, l) in &lines {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    Some(out)
}

/// `o=` with its numeric session id and version reduced to 0 when they exceed u64.
fn clamp_origin(line: &str) -> String {
    let fields: Vec<&str> = line.trim_start_matches("o=").split_whitespace().collect();
    let fixed: Vec<&str> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let numeric = f.bytes().all(|b| b.is_ascii_digit());
            if (i == 1 || i == 2) && numeric && f.parse::<u64>().is_err() {
                "0"
            } else {
                f
            }
        })
        .collect();
    format!("o={}", fixed.join(" "))
}

/// Pick the m-line and codec: the first audio m-line over plain RTP with a shared codec.
fn choose_stream(
    sdp: &SessionDescription,
    prefs: &[Codec],
    preference: Preference,
) -> Result<(usize, Negotiated), SdpError> {
    let mut saw_audio = false;
    let mut offered = String::new();
    for (i, md) in sdp.media_descriptions.iter().enumerate() {
        let name = &md.media_name;
        if !name.media.eq_ignore_ascii_case("audio") || name.port.value == 0 {
            continue;
        }
        saw_audio = true;
        describe_offered(md, &mut offered);
        if !is_plain_rtp(&name.protos) {
            continue;
        }
        let Some((codec, payload_type)) = pick_codec(md, prefs, preference) else {
            continue;
        };
        let direction = media_or_session_direction(md, sdp)
            .unwrap_or(Direction::SendRecv)
            .mirror();
        let remote = connection_addr(md, sdp)
            .and_then(|ip| u16::try_from(name.port.value).ok().map(|p| (ip, p)))
            .map(|(ip, p)| SocketAddr::new(ip, p));
        let te = telephone_event_pt(md, codec);
        let negotiated = Negotiated {
            codec,
            payload_type,
            remote,
            telephone_event: te.map(|(pt, _)| pt),
            telephone_event_rate: te.map_or(8000, |(_, rate)| rate),
            direction,
            ptime_ms: ptime(md, sdp),
        };
        return Ok((i, negotiated));
    }
    if saw_audio {
        Err(SdpError::NoCommonCodec {
            offered: quote(offered.trim()),
        })
    } else {
        Err(SdpError::NoAudio)
    }
}

/// RTP/AVP and RTP/AVPF: we do no SRTP (SAVP) and no other transport.
fn is_plain_rtp(protos: &[String]) -> bool {
    match protos {
        [rtp, profile] => {
            rtp.eq_ignore_ascii_case("RTP")
                && (profile.eq_ignore_ascii_case("AVP") || profile.eq_ignore_ascii_case("AVPF"))
        }
        _ => false,
    }
}

fn pick_codec(
    md: &MediaDescription,
    prefs: &[Codec],
    preference: Preference,
) -> Option<(Codec, u8)> {
    let formats: Vec<(u8, Option<Codec>)> = payload_types(md)
        .map(|pt| (pt, codec_for(md, pt)))
        .collect();
    match preference {
        Preference::Ours => prefs.iter().find_map(|&want| {
            formats
                .iter()
                .find(|(_, c)| *c == Some(want))
                .map(|&(pt, _)| (want, pt))
        }),
        Preference::Theirs => formats
            .iter()
            .find_map(|&(pt, c)| c.filter(|c| prefs.contains(c)).map(|c| (c, pt))),
    }
}

/// The m-line's formats that are RTP payload type numbers; anything else is ignored.
fn payload_types(md: &MediaDescription) -> impl Iterator<Item = u8> + '_ {
    md.media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|&pt| pt < 128)
}

/// Our codec for a payload type. An rtpmap line is authoritative; without one only the
/// static types 0, 8 and 9 are known (RFC 3551 table 4), which offers may legally rely
/// on. Opus must say `/48000/2` (RFC 7587 §7; `/1` and none are accepted from sloppy
/// stacks); G.722 is `/8000`, and `/16000` (a common mistake) is read as G.722 too.
fn codec_for(md: &MediaDescription, pt: u8) -> Option<Codec> {
    match md.codecs().get(&pt).filter(|c| !c.name.is_empty()) {
        Some(c) => Codec::from_name(&c.name).filter(|codec| {
            let rate_ok = c.clock_rate == codec.clock_rate()
                || (*codec == Codec::G722 && c.clock_rate == 16000);
            let channels = c.encoding_parameters.as_str();
            let channels_ok = channels.is_empty()
                || channels == "1"
                || (*codec == Codec::Opus && channels == "2");
            rate_ok && channels_ok
        }),
        None => Codec::from_static_payload_type(pt),
    }
}

/// The m-line's payload type for telephone-event (RFC 4733) and its clock, if offered:
/// at 48 kHz for Opus when offered (the audio's clock), else at 8 kHz.
fn telephone_event_pt(md: &MediaDescription, codec: Codec) -> Option<(u8, u32)> {
    let codecs = md.codecs();
    let at = |rate: u32| {
        payload_types(md)
            .find(|pt| {
                codecs.get(pt).is_some_and(|c| {
                    c.name.eq_ignore_ascii_case("telephone-event") && c.clock_rate == rate
                })
            })
            .map(|pt| (pt, rate))
    };
    let wide = if codec == Codec::Opus { at(48000) } else { None };
    wide.or_else(|| at(8000))
}

/// The events we accept on telephone-event: 0-16 (digits, *, #, A-D, flash), or 0-15 when
/// that is what was offered, mirroring endpoints that do not send flash.
fn te_events_for(md: &MediaDescription, pt: u8) -> &'static str {
    let offered_0_15 = md
        .attributes
        .iter()
        .filter(|a| a.key == "fmtp")
        .filter_map(|a| a.value.as_deref())
        .filter_map(|v| v.trim().split_once(char::is_whitespace))
        .any(|(p, params)| p.parse::<u8>() == Ok(pt) && params.trim() == "0-15");
    if offered_0_15 {
        "0-15"
    } else {
        "0-16"
    }
}

fn media_or_session_direction(
    md: &MediaDescription,
    sdp: &SessionDescription,
) -> Option<Direction> {
    md.attributes
        .iter()
        .find_map(|a| Direction::from_attr(&a.key))
        .or_else(|| {
            sdp.attributes
                .iter()
                .find_map(|a| Direction::from_attr(&a.key))
        })
}

fn ptime(md: &MediaDescription, sdp: &SessionDescription) -> Option<u32> {
    let value = md
        .attribute("ptime")
        .flatten()
        .or_else(|| sdp.attribute("ptime").map(String::as_str))?;
    let value = value.trim();
    value.parse::<u32>().ok().or_else(|| {
        // Some stacks write "20.0"; accept a sane decimal, refuse anything else.
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 1.0 && *v <= 1000.0)
            .map(|v| v.round() as u32)
    })
}

/// The unicast address to send RTP to: media-level c= first, else session-level
/// (RFC 4566 §5.7). 0.0.0.0 / :: is RFC 2543 hold and names are not resolved here.
fn connection_addr(md: &MediaDescription, sdp: &SessionDescription) -> Option<IpAddr> {
    let ci = md
        .connection_information
        .as_ref()
        .or(sdp.connection_information.as_ref())?;
    let raw = &ci.address.as_ref()?.address;
    let host = raw.split('/').next()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    (!ip.is_unspecified() && !ip.is_multicast()).then_some(ip)
}

fn describe_offered(md: &MediaDescription, out: &mut String) {
    if out.len() > QUOTE_LIMIT {
        return;
    }
    let codecs = md.codecs();
    let _ = write!(out, "{}", md.media_name.protos.join("/"));
    for f in md.media_name.formats.iter().take(16) {
        let described = f
            .parse::<u8>()
            .ok()
            .and_then(|pt| codecs.get(&pt))
            .filter(|c| !c.name.is_empty());
        match described {
            Some(c) => {
                let _ = write!(out, " {}:{}/{}", f, c.name, c.clock_rate);
            }
            None => {
                let _ = write!(out, " {}", f);
            }
        }
    }
    out.push_str("; ");
}

fn quote(s: &str) -> String {
    let mut q: String = s.chars().take(QUOTE_LIMIT).collect();
    if q.len() < s.len() {
        q.push('…');
    }
    q
}

fn attr(key: &str, value: Option<String>) -> Attribute {
    Attribute::new(key.to_string(), value)
}

/// Our accepted audio m-line: the codecs given, optional telephone-event, ptime, direction.
fn audio_media(
    port: u16,
    protos: Vec<String>,
    codecs: &[(Codec, u8)],
    telephone_event: Option<(u8, u32, &str)>,
    direction: Direction,
) -> MediaDescription {
    let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = Vec::with_capacity(codecs.len() + 5);
    for (c, pt) in codecs {
        let rtpmap = match c.rtpmap_channels() {
            Some(ch) => format!("{pt} {}/{}/{ch}", c.name(), c.clock_rate()),
            None => format!("{pt} {}/{}", c.name(), c.clock_rate()),
        };
        attributes.push(attr("rtpmap", Some(rtpmap)));
        if *c == Codec::Opus {
            // RFC 7587 §7.1: we play back and capture wideband voice; no FEC or DTX
            // asked of the sender (both would be decoded all the same).
            attributes.push(attr(
                "fmtp",
                Some(format!("{pt} maxplaybackrate=16000;sprop-maxcapturerate=16000")),
            ));
        }
    }
    if let Some((pt, rate, events)) = telephone_event {
        formats.push(pt.to_string());
        attributes.push(attr("rtpmap", Some(format!("{pt} telephone-event/{rate}"))));
        attributes.push(attr("fmtp", Some(format!("{pt} {events}"))));
    }
    attributes.push(attr("ptime", Some(PTIME_MS.to_string())));
    attributes.push(attr(direction.as_str(), None));
    MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                value: isize::try_from(port).unwrap_or(0),
                range: None,
            },
            protos,
            formats,
        },
        media_title: None,
        connection_information: None,
        bandwidth: vec![],
        encryption_key: None,
        attributes,
    }
}

/// RFC 3264 §6: a refused stream stays in the answer with port 0 and the offered formats.
fn rejected(md: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: md.media_name.media.clone(),
            port: RangedPort {
                value: 0,
                range: None,
            },
            protos: md.media_name.protos.clone(),
            formats: md.media_name.formats.clone(),
        },
        media_title: None,
        connection_information: None,
        bandwidth: vec![],
        encryption_key: None,
        attributes: vec![],
    }
}

/// Session envelope around our m-lines; rtc-sdp prints it with CRLF line endings.
fn render(local: &LocalMedia, media: Vec<MediaDescription>) -> String {
    let addr_type = match local.addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let sdp = SessionDescription {
        version: 0,
        origin: Origin {
            username: "cc112".into(),
            session_id: local.session_id,
            session_version: local.session_version,
            network_type: "IN".into(),
            address_type: addr_type.into(),
            unicast_address: local.addr.to_string(),
        },
        session_name: "cc112".into(),
        session_information: None,
        uri: None,
        email_address: None,
        phone_number: None,
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type.into(),
            address: Some(Address {
                address: local.addr.to_string(),
                ttl: None,
                range: None,
            }),
        }),
        bandwidth: vec![],
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        time_zones: vec![],
        encryption_key: None,
        attributes: vec![],
        media_descriptions: media,
    };
    sdp.marshal()
}

#[cfg(test)]
mod tests;
