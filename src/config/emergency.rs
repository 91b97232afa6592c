//! `[emergency]`: what makes an INVITE an emergency call (the dialled numbers and
//! the RFC 5031 service URNs), and the names call records give the numbers.

use serde::Deserialize;

use super::problems::{entry_number, Problems};
use super::problems::span::S;

/// `[emergency]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmergency {
    pub numbers: Option<S<Vec<S<RawEmergencyNumber>>>>,
    pub service_urns: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmergencyNumber {
    /// Kept as any value: `number = 112` (an integer) is the most likely mistake and
    /// deserves a precise hint rather than a type error that stops all validation.
    pub number: Option<S<toml::Value>>,
    pub label: Option<S<String>>,
}

/// What makes an INVITE an emergency call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyConfig {
    /// Matched exactly against the dialled user part.
    pub numbers: Vec<EmergencyNumber>,
    /// Lowercase; sub-services (`urn:service:sos.fire`) are matched by the engine.
    pub service_urns: Vec<String>,
}

/// A dialled number and the name call records show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyNumber {
    /// Digits only, 2 to 6 of them.
    pub number: String,
    /// What call records and the wallboard call it (`police`).
    pub label: String,
}

/// The numbers every deployment starts with: the European 112 and the legacy
/// national numbers callers still dial from habit.
pub(crate) const DEFAULT_NUMBERS: &[(&str, &str)] = &[
    ("112", "general emergency"),
    ("110", "police"),
    ("113", "fire"),
    ("115", "search and rescue"),
    ("118", "ambulance"),
    ("119", "ambulance"),
];
pub(crate) const DEFAULT_SERVICE_URN: &str = "urn:service:sos";
const URN_PREFIX: &str = "urn:service:";

pub(crate) fn default_emergency() -> EmergencyConfig {
    EmergencyConfig {
        numbers: DEFAULT_NUMBERS
            .iter()
            .map(|(n, l)| EmergencyNumber {
                number: (*n).to_string(),
                label: (*l).to_string(),
            })
            .collect(),
        service_urns: vec![DEFAULT_SERVICE_URN.to_string()],
    }
}

/// Validates `[emergency]`; a key not written (or unusable) keeps its default.
pub(crate) fn emergency(raw: Option<S<RawEmergency>>, p: &mut Problems<'_>) -> EmergencyConfig {
    let d = default_emergency();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let raw = raw.into_inner();
    let numbers = match &raw.numbers {
        None => d.numbers,
        Some(list) => {
            let mut out: Vec<(usize, EmergencyNumber)> = Vec::new();
            for (i, entry) in list.get_ref().iter().enumerate() {
                let here = format!("emergency.numbers[{i}]");
                if let Some(n) = emergency_number(entry, &here, p) {
                    if let Some((j, _)) = out.iter().find(|(_, seen)| seen.number == n.number) {
                        let at = entry
                            .get_ref()
                            .number
                            .as_ref()
                            .map_or(entry.span(), |v| v.span());
                        p.at(
                            format!("{here}.number"),
                            at,
                            format!(
                                "{} is listed twice (also at emergency.numbers[{j}]); \
                                 expected each number once",
                                n.number
                            ),
                        );
                    } else {
                        out.push((i, n));
                    }
                }
            }
            out.into_iter().map(|(_, n)| n).collect()
        }
    };
    let service_urns = match &raw.service_urns {
        None => d.service_urns,
        Some(list) => {
            let mut out: Vec<(usize, String)> = Vec::new();
            for (i, urn) in list.get_ref().iter().enumerate() {
                let here = format!("emergency.service_urns[{i}]");
                match normalize_urn(urn.get_ref()) {
                    Err(msg) => p.at(here, urn.span(), msg),
                    Ok(u) => {
                        if let Some((j, _)) = out.iter().find(|(_, seen)| *seen == u) {
                            p.at(
                                here,
                                urn.span(),
                                format!(
                                    "{u} is listed twice (also at emergency.service_urns[{j}], \
                                     URNs compare case-insensitively); expected each URN once"
                                ),
                            );
                        } else {
                            out.push((i, u));
                        }
                    }
                }
            }
            out.into_iter().map(|(_, u)| u).collect()
        }
    };
    let any_written_bad = p.errors.iter().any(|e| e.path.starts_with("emergency."));
    if numbers.is_empty() && service_urns.is_empty() && !any_written_bad {
        p.at(
            "emergency",
            span,
            "no emergency identity: numbers and service_urns are both empty, so no call \
             would be recognised as an emergency; expected at least one, e.g. 112",
        );
    }
    EmergencyConfig {
        numbers,
        service_urns,
    }
}

fn emergency_number(
    entry: &S<RawEmergencyNumber>,
    here: &str,
    p: &mut Problems<'_>,
) -> Option<EmergencyNumber> {
    let raw = entry.get_ref();
    let number = entry_number(raw.number.as_ref(), here, entry.span(), "missing key `number`; expected number = \"112\" and label = \"...\"", p);
    let label = match &raw.label {
        None => {
            p.at(
                here,
                entry.span(),
                "missing key `label`; expected a name for call records like label = \"police\"",
            );
            None
        }
        Some(l) => match label_problem(l.get_ref()) {
            None => Some(l.get_ref().trim().to_string()),
            Some(msg) => {
                p.at(format!("{here}.label"), l.span(), msg);
                None
            }
        },
    };
    Some(EmergencyNumber {
        number: number?,
        label: label?,
    })
}

/// Numbers are strings because leading zeros matter in dial strings and an integer
/// would silently drop them.
pub(crate) fn label_problem(l: &str) -> Option<String> {
    if l.trim().is_empty() {
        Some("label is empty; expected a name for call records like \"police\"".into())
    } else if l.chars().any(char::is_control) {
        Some(format!(
            "{l:?} contains control characters; expected plain text like \"police\""
        ))
    } else if l.chars().count() > 64 {
        Some(format!(
            "label is {} characters long; expected at most 64",
            l.chars().count()
        ))
    } else {
        None
    }
}

/// URNs are stored lowercase because RFC 5031 service URNs compare
/// case-insensitively and the engine matches them byte for byte.
pub(crate) fn normalize_urn(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    let Some(service) = lower.strip_prefix(URN_PREFIX) else {
        return Err(format!(
            "{s:?} is not a service URN; expected one starting with urn:service:, like urn:service:sos"
        ));
    };
    let ok = !service.is_empty()
        && service.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(format!(
            "{s:?} has an invalid service name; expected dot-separated letters, digits and \
             dashes after urn:service:, like urn:service:sos or urn:service:sos.fire"
        ))
    }
}
