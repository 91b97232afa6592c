//! `[http]`: the HTTP server (`/healthz`, `/metrics`, the API), where it listens and
//! who may use it: `[[http.tokens]]`, each a name, a role and the SHA-256 of a secret
//! token (the token itself is never stored; `cc112 http-token NAME` makes one).

use std::net::SocketAddr;

use serde::Deserialize;

use super::problems::span::S;
use super::problems::Problems;
use super::sip::listeners;

/// `[http]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub listen: Option<S<Vec<S<String>>>>,
    pub tokens: Option<S<Vec<S<RawToken>>>>,
}

/// One `[[http.tokens]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToken {
    pub name: Option<S<String>>,
    pub role: Option<S<String>>,
    pub sha256: Option<S<String>>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read the API (status, calls, operators).
    Viewer,
    /// Read, and act on operators (pause, resume, log out).
    Supervisor,
}

impl Role {
    /// The name written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Supervisor => "supervisor",
        }
    }

    /// The role named `s` (`viewer`, `supervisor`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }
}

/// One API token: who holds it, what it may do, and the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpToken {
    /// Who holds it (logged with what it does).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
}

/// The validated `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Addresses the HTTP server listens on; empty: no HTTP server.
    pub listen: Vec<SocketAddr>,
    /// The tokens the API accepts; none: only `/healthz` and `/metrics` answer.
    pub tokens: Vec<HttpToken>,
}

/// At most this many tokens (each is compared on every request).
pub(crate) const MAX_TOKENS: usize = 256;

pub(crate) fn default_http() -> HttpConfig {
    HttpConfig { listen: vec![SocketAddr::from(([127, 0, 0, 1], 8112))], tokens: Vec::new() }
}

/// Validates `[http]`; a key not written keeps its default.
pub(crate) fn http(raw: Option<S<RawHttp>>, p: &mut Problems<'_>) -> HttpConfig {
    let d = default_http();
    let Some(raw) = raw else { return d };
    let raw = raw.into_inner();
    let listen = listeners(raw.listen.as_ref(), "http.listen", &d.listen, p);
    let tokens = tokens(raw.tokens.as_ref(), p);
    HttpConfig { listen, tokens }
}

fn tokens(raw: Option<&S<Vec<S<RawToken>>>>, p: &mut Problems<'_>) -> Vec<HttpToken> {
    let Some(raw) = raw else { return Vec::new() };
    if raw.get_ref().len() > MAX_TOKENS {
        p.at("http.tokens", raw.span(), format!("{} tokens listed; expected at most {MAX_TOKENS}", raw.get_ref().len()));
        return Vec::new();
    }
    let mut out: Vec<HttpToken> = Vec::new();
    for (i, entry) in raw.get_ref().iter().enumerate() {
        if let Some(t) = token(entry, &format!("http.tokens[{i}]"), &out, p) {
            out.push(t);
        }
    }
    out
}

/// One entry; `None` after any problem: a token half understood must not open anything.
fn token(entry: &S<RawToken>, here: &str, seen: &[HttpToken], p: &mut Problems<'_>) -> Option<HttpToken> {
    let r = entry.get_ref();
    let name = match &r.name {
        None => {
            p.at(here, entry.span(), "the token has no name; expected name = \"who holds it\", as printed by `cc112 http-token NAME`");
            None
        }
        Some(n) => match name_problem(n.get_ref(), seen) {
            Some(msg) => {
                p.at(format!("{here}.name"), n.span(), msg);
                None
            }
            None => Some(n.get_ref().clone()),
        },
    };
    let role = match &r.role {
        None => {
            p.at(here, entry.span(), "the token has no role; expected role = \"viewer\" or \"supervisor\"");
            None
        }
        Some(v) => {
            let role = Role::parse(v.get_ref());
            if role.is_none() {
                p.at(format!("{here}.role"), v.span(), format!("{:?} is not a role; expected \"viewer\" (read) or \"supervisor\" (read and act on operators)", v.get_ref()));
            }
            role
        }
    };
    let sha256 = match &r.sha256 {
        None => {
            p.at(here, entry.span(), "the token has no sha256; expected the sha256 printed by `cc112 http-token NAME`");
            None
        }
        Some(v) => {
            let hash = parse_sha256(v.get_ref());
            match hash {
                None => p.at(format!("{here}.sha256"), v.span(), "expected 64 hexadecimal characters (the SHA-256 of the token, as printed by `cc112 http-token NAME`), not the token itself"),
                Some(h) if seen.iter().any(|t| t.sha256 == h) => {
                    p.at(format!("{here}.sha256"), v.span(), "this hash is listed twice; expected one entry per token");
                }
                Some(_) => {}
            }
            hash
        }
    };
    Some(HttpToken { name: name?, role: role?, sha256: sha256? })
}

/// The SHA-256 of a token as presented (what `[[http.tokens]]` stores).
pub fn token_sha256(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A new API token for `name` with `role`: 32 bytes from `rng` (a cryptographic
/// generator: the OS's in `cc112 http-token`), written `cc112_` and 64 hex digits
/// (URL-safe), and the `[[http.tokens]]` entry that accepts it. Refused for a name the
/// config would refuse.
pub fn new_token(name: &str, role: Role, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> Result<(String, String), String> {
    if let Some(problem) = name_problem(name, &[]) {
        return Err(problem);
    }
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let token = format!("cc112_{}", hex::encode(secret));
    let entry = format!(
        "[[http.tokens]]\nname = {}\nrole = \"{}\"\nsha256 = \"{}\"",
        toml::Value::String(name.to_string()),
        role.as_str(),
        hex::encode(token_sha256(&token)),
    );
    Ok((token, entry))
}

fn name_problem(name: &str, seen: &[HttpToken]) -> Option<String> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        Some(format!("{name:?} is not a token name; expected printable text of 1 to 64 characters, like \"wallboard-1\""))
    } else if seen.iter().any(|t| t.name == name) {
        Some(format!("{name:?} is listed twice; expected each token name once"))
    } else {
        None
    }
}

fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Role};

    #[test]
    fn http_defaults_to_loopback_8112_with_no_token_and_an_empty_list_turns_it_off() {
        let c = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(c.http.listen, vec!["127.0.0.1:8112".parse().unwrap()]);
        assert!(c.http.tokens.is_empty());
        let off = Config::from_toml("[http]\nlisten = []\n", "t.toml").unwrap();
        assert!(off.http.listen.is_empty());
    }

    #[test]
    fn tokens_parse_with_their_roles_and_hashes() {
        let h = "AB".repeat(32);
        let c = Config::from_toml(
            &format!("[[http.tokens]]\nname = \"wall\"\nrole = \"viewer\"\nsha256 = \"{h}\"\n[[http.tokens]]\nname = \"sup\"\nrole = \"supervisor\"\nsha256 = \"{}\"\n", "01".repeat(32)),
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.http.tokens.len(), 2);
        assert_eq!(c.http.tokens[0].role, Role::Viewer);
        assert_eq!(c.http.tokens[0].sha256, [0xab; 32]);
        assert_eq!(c.http.tokens[1].role, Role::Supervisor);
    }

    #[test]
    fn a_new_token_is_random_and_its_entry_loads_and_matches_it() {
        let mut rng = rand::rngs::OsRng;
        let (t1, entry) = super::new_token("wall \"1\"", Role::Supervisor, &mut rng).unwrap();
        let (t2, _) = super::new_token("wall", Role::Viewer, &mut rng).unwrap();
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 6 + 64);
        assert!(t1.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let c = Config::from_toml(&entry, "t.toml").unwrap();
        assert_eq!(c.http.tokens[0].name, "wall \"1\"");
        assert_eq!(c.http.tokens[0].role, Role::Supervisor);
        assert_eq!(c.http.tokens[0].sha256, super::token_sha256(&t1));
        assert!(super::new_token("", Role::Viewer, &mut rng).is_err());
    }

    #[test]
    fn a_bad_token_entry_is_refused_with_every_problem() {
        let e = Config::from_toml("[[http.tokens]]\nname = \"\"\nrole = \"admin\"\nsha256 = \"abc\"\n", "t.toml").unwrap_err();
        let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["http.tokens[0].name", "http.tokens[0].role", "http.tokens[0].sha256"]);
    }
}
