//! `[media]`: the RTP address and port range offered in SDP, and the codecs in order
//! of preference (default PCMU, PCMA, G722, opus: G.711 first because it costs no
//! transcoding towards the G.711 operators; an admin may put wideband first). A caller
//! is answered with the first of this list that its offer has.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use serde::Deserialize;

use super::problems::Problems;
use super::problems::span::S;
use crate::media::Codec;

/// `[media]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    pub address: Option<S<String>>,
    pub port_min: Option<S<i64>>,
    pub port_max: Option<S<i64>>,
    pub codecs: Option<S<Vec<S<String>>>>,
}

/// RTP endpoint settings offered in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// The unicast address callers send RTP to (the SDP `c=` line).
    pub address: IpAddr,
    /// Even: RTP on even ports, RTCP on the odd port above.
    pub port_min: u16,
    /// Highest port of the range, above `port_min`.
    pub port_max: u16,
    /// In order of preference, non-empty, no duplicates (names as in SDP: `PCMU`,
    /// `PCMA`, `G722`, `opus`, any case).
    pub codecs: Vec<Codec>,
}

pub(crate) fn default_media() -> MediaConfig {
    MediaConfig {
        address: IpAddr::from([127, 0, 0, 1]),
        port_min: 10000,
        port_max: 19999,
        codecs: Codec::ALL.to_vec(),
    }
}

/// Validates `[media]`; a key not written (or unusable) keeps its default.
pub(crate) fn media(raw: Option<S<RawMedia>>, p: &mut Problems<'_>) -> MediaConfig {
    let d = default_media();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let raw = raw.into_inner();
    let address = match &raw.address {
        None => d.address,
        Some(a) => match media_address(a.get_ref()) {
            Ok(ip) => ip,
            Err(msg) => {
                p.at("media.address", a.span(), msg);
                d.address
            }
        },
    };
    let (port_min, port_max) = ports(&raw, span, &d, p);
    let codecs = match &raw.codecs {
        None => d.codecs.clone(),
        Some(list) => codecs(list, p),
    };
    MediaConfig {
        address,
        port_min: port_min.unwrap_or(d.port_min),
        port_max: port_max.unwrap_or(d.port_max),
        codecs,
    }
}

/// `port_min` and `port_max`, each `None` when written wrong; an empty range is
/// reported on the key the admin wrote.
fn ports(
    raw: &RawMedia,
    span: Range<usize>,
    d: &MediaConfig,
    p: &mut Problems<'_>,
) -> (Option<u16>, Option<u16>) {
    // RTP takes the even port and RTCP the odd one above it (RFC 3550 §11).
    let port_min = match &raw.port_min {
        None => Some(d.port_min),
        Some(v) => {
            let n = *v.get_ref();
            if !(1024..=65534).contains(&n) {
                p.at(
                    "media.port_min",
                    v.span(),
                    format!("{n} is out of range; expected an even port between 1024 and 65534"),
                );
                None
            } else if n % 2 != 0 {
                p.at(
                    "media.port_min",
                    v.span(),
                    format!(
                        "{n} is odd; expected an even port (RTP uses even ports, RTCP the \
                         odd one above), like {}",
                        n - 1
                    ),
                );
                None
            } else {
                Some(n as u16)
            }
        }
    };
    let port_max = match &raw.port_max {
        None => Some(d.port_max),
        Some(v) => {
            let n = *v.get_ref();
            if !(1025..=65535).contains(&n) {
                p.at(
                    "media.port_max",
                    v.span(),
                    format!("{n} is out of range; expected a port between 1025 and 65535"),
                );
                None
            } else {
                Some(n as u16)
            }
        }
    };
    if let (Some(lo), Some(hi)) = (port_min, port_max) {
        if hi <= lo {
            // Blame the key the admin wrote; if both were written, the upper bound.
            let (path, at) = match (&raw.port_max, &raw.port_min) {
                (Some(v), _) => ("media.port_max", Some(v.span())),
                (None, Some(v)) => ("media.port_min", Some(v.span())),
                (None, None) => ("media", Some(span)),
            };
            p.maybe_at(
                path,
                at,
                format!(
                    "port range {lo}..={hi} is empty; expected port_max greater than \
                     port_min (each call needs an RTP and an RTCP port)"
                ),
            );
        }
    }
    (port_min, port_max)
}

/// `codecs = [...]`: each known codec once, in the order written.
fn codecs(list: &S<Vec<S<String>>>, p: &mut Problems<'_>) -> Vec<Codec> {
    let mut out: Vec<(usize, Codec)> = Vec::new();
    let mut bad = false;
    for (i, name) in list.get_ref().iter().enumerate() {
        let here = format!("media.codecs[{i}]");
        match Codec::from_name(name.get_ref().trim()) {
            None => {
                bad = true;
                p.at(
                    here,
                    name.span(),
                    format!(
                        "{:?} is not a supported codec; expected \"PCMU\", \"PCMA\", \"G722\" or \"opus\"",
                        name.get_ref()
                    ),
                );
            }
            Some(c) => {
                if let Some((j, _)) = out.iter().find(|(_, seen)| *seen == c) {
                    bad = true;
                    p.at(
                        here,
                        name.span(),
                        format!(
                            "{c} is listed twice (also at media.codecs[{j}]); \
                             expected each codec once, in order of preference"
                        ),
                    );
                } else {
                    out.push((i, c));
                }
            }
        }
    }
    if list.get_ref().is_empty() && !bad {
        p.at(
            "media.codecs",
            list.span(),
            "no codec: a call with no common codec cannot be answered; expected \
             at least one of \"PCMU\", \"PCMA\", \"G722\", \"opus\"",
        );
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// The address goes into the SDP `c=` line, so the caller must be able to send RTP to
/// it: a wildcard means "hold" in SDP and multicast is not a unicast call leg.
fn media_address(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s.trim().parse().map_err(|_| {
        let hint = if s.parse::<SocketAddr>().is_ok() {
            " (without a port: ports come from port_min..port_max)"
        } else {
            ""
        };
        format!("{s:?} is not an IP address; expected one like 127.0.0.1 or ::1{hint}")
    })?;
    if ip.is_unspecified() {
        Err(format!(
            "{ip} is a wildcard; expected the address callers can reach, because it is \
             sent in SDP and 0.0.0.0 there means \"on hold\""
        ))
    } else if ip.is_multicast() {
        Err(format!(
            "{ip} is a multicast address; expected a unicast address callers can reach"
        ))
    } else {
        Ok(ip)
    }
}
