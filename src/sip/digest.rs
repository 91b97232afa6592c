//! HTTP Digest authentication as SIP uses it for REGISTER (RFC 3261 §22.4, RFC 7616,
//! RFC 8760 for SHA-256), restricted to what the gateway accepts: `qop=auth` and the
//! algorithms MD5 and SHA-256 (no `-sess`, no `auth-int`, no `userhash`).
//!
//! Why each piece is the way it is:
//! - Operators are configured with HA1 = H(user:realm:password) only, so a leaked
//!   config file does not leak passwords; [`ha1`] computes it for `cc112
//!   operator-hash`.
//! - Nonces are stateless ([`NonceKeeper`]): `timestamp || MAC(secret, timestamp, client
//!   ip)`, with a counter so two phones behind one NAT never share a nonce. A flood of REGISTERs without credentials costs no memory, yet a nonce expires
//!   after `ttl` and is useless from another address. Only nonces that carried a *valid*
//!   response are remembered (highest `nc` per nonce, bounded map), so only holders of
//!   real credentials can make the replay table grow.
//! - Responses are compared in constant time so the comparison leaks nothing about how
//!   many leading characters were right.
//! - The header parser is bounded (length, parameter count) and never panics: it sees
//!   hostile input before any authentication.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Longest `Authorization` value we look at; real ones are ~300 bytes.
pub const MAX_HEADER_LEN: usize = 4096;
/// Most auth-params accepted in one header (RFC 7616 defines 12).
pub const MAX_PARAMS: usize = 24;
/// Replay table size: one entry per nonce that authenticated successfully.
pub const DEFAULT_MAX_TRACKED_NONCES: usize = 10_000;

/// Digest hash algorithms we accept, strongest first in challenges (RFC 8760 §2.4:
/// a client uses the first one it supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `SHA-256` (RFC 7616; for SIP, RFC 8760).
    Sha256,
    /// `MD5`, the RFC 2617 default when a client names no algorithm.
    Md5,
}

impl Algorithm {
    /// Challenge order: SHA-256 first, MD5 for the many softphones without it.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The token on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    /// Case-insensitive, as RFC 7616 §3.3 asks; `-sess` variants are refused.
    pub fn from_token(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Length of a hex digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Md5 => 32,
        }
    }

    /// Lowercase hex of H(data).
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HA1 = H(username ":" realm ":" password), lowercase hex (RFC 7616 §3.4.2). This is
/// what the config stores instead of a password.
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(format!("{user}:{realm}:{password}").as_bytes())
}

/// Why an `Authorization` header was refused before any hash was computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    /// Longer than [`MAX_HEADER_LEN`] bytes.
    #[error("Authorization header too long")]
    TooLong,
    /// Another scheme (e.g. `Basic`).
    #[error("Authorization scheme is not Digest")]
    NotDigest,
    /// Not `name=value` pairs separated by commas, a broken quoted string, or a
    /// `response` that is not a hex digest of the algorithm's length.
    #[error("malformed Digest parameters")]
    Syntax,
    /// More than [`MAX_PARAMS`] parameters.
    #[error("too many Digest parameters")]
    TooManyParams,
    /// A parameter verification reads (named here) appears twice.
    #[error("Digest parameter {0} given twice")]
    Duplicate(&'static str),
    /// A required parameter (named here) is absent; also for `username*`, which we
    /// do not read.
    #[error("Digest parameter {0} missing")]
    Missing(&'static str),
    /// Neither `MD5` nor `SHA-256` (the `-sess` variants included).
    #[error("unsupported Digest algorithm")]
    Algorithm,
    /// `qop` is not `auth` (we offer only `auth`).
    #[error("unsupported qop (only auth)")]
    Qop,
    /// `nc` is not eight hex digits, or is zero.
    #[error("bad nonce count")]
    NonceCount,
    /// `userhash=true` (RFC 7616 §3.4.4): we cannot look up hashed user names.
    #[error("userhash is not supported")]
    Userhash,
}

/// The fields of `Authorization: Digest ...` that verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The operator id the phone claims.
    pub username: String,
    /// The realm; a header for another realm is skipped.
    pub realm: String,
    /// One of our nonces, checked by [`NonceKeeper`].
    pub nonce: String,
    /// The digest-uri, hashed into HA2 as received.
    pub uri: String,
    /// Lowercase hex.
    pub response: String,
    /// [`Algorithm::Md5`] when the header names none (RFC 7616 §3.3).
    pub algorithm: Algorithm,
    /// The client nonce (required: we offer `qop=auth`).
    pub cnonce: String,
    /// The nonce count as received (8 hex digits), hashed verbatim.
    pub nc_text: String,
    /// `nc_text` as a number, never 0: must grow per nonce (replay check).
    pub nc: u32,
    /// Not read: our challenges carry no `opaque`.
    pub opaque: Option<String>,
}

/// Parses one `Authorization` (or `Proxy-Authorization`) value. Parameters may come
/// in any order, values as tokens or quoted strings; unknown parameters are ignored
/// (RFC 7616 §3.4: extensions), known ones may not repeat.
pub fn parse_authorization(value: &str) -> Result<Credentials, DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong);
    }
    let v = value.trim();
    let scheme_len = v.bytes().take_while(|c| !matches!(c, b' ' | b'\t')).count();
    let scheme = v.get(..scheme_len).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(DigestError::NotDigest);
    }
    let params = auth_params(v.get(scheme_len..).unwrap_or_default())?;

    let mut found = known_params(params)?;
    let mut take = |i: usize| found.get_mut(i).and_then(Option::take);
    let need = |v: Option<String>, name: &'static str| v.ok_or(DigestError::Missing(name));
    let username = need(take(0), "username")?;
    let realm = need(take(1), "realm")?;
    let nonce = need(take(2), "nonce")?;
    let uri = need(take(3), "uri")?;
    let response = need(take(4), "response")?.to_ascii_lowercase();
    let algorithm = match take(5) {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_token(&a).ok_or(DigestError::Algorithm)?,
    };
    let cnonce = take(6);
    let nc_text = take(7);
    let qop = need(take(8), "qop")?;
    let opaque = take(9);
    if !qop.eq_ignore_ascii_case("auth") {
        return Err(DigestError::Qop);
    }
    let cnonce = need(cnonce, "cnonce")?;
    let nc_text = need(nc_text, "nc")?;
    let nc = nonce_count(&nc_text)?;
    if response.len() != algorithm.hex_len() || !response.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(DigestError::Syntax);
    }
    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        nc_text,
        nc,
        opaque,
    })
}

/// The parameters [`parse_authorization`] reads, in the order of its slots.
const CREDENTIAL_PARAMS: [&str; 10] = [
    "username",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "cnonce",
    "nc",
    "qop",
    "opaque",
];

/// The value of each of [`CREDENTIAL_PARAMS`] (names compared without case), unknown ones
/// skipped; a name given twice is an error, as is `userhash=true` or `username*`,
/// neither of which we can check.
fn known_params(params: Vec<(String, String)>) -> Result<[Option<String>; 10], DigestError> {
    let mut found: [Option<String>; 10] = Default::default();
    for (name, val) in params {
        if name.eq_ignore_ascii_case("userhash") {
            if val.eq_ignore_ascii_case("true") {
                return Err(DigestError::Userhash);
            }
            continue;
        }
        if name.eq_ignore_ascii_case("username*") {
            // RFC 7616 §3.4.4 extended notation: we only have ASCII operator ids.
            return Err(DigestError::Missing("username"));
        }
        if let Some(i) = CREDENTIAL_PARAMS
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&name))
        {
            let slot = found.get_mut(i).ok_or(DigestError::Syntax)?;
            if slot.is_some() {
                return Err(DigestError::Duplicate(
                    CREDENTIAL_PARAMS.get(i).copied().unwrap_or("?"),
                ));
            }
            *slot = Some(val);
        }
    }
    Ok(found)
}

/// `nc`: exactly eight hex digits, not zero (RFC 7616 §3.4).
fn nonce_count(nc_text: &str) -> Result<u32, DigestError> {
    if nc_text.len() != 8 || !nc_text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(DigestError::NonceCount);
    }
    let nc = u32::from_str_radix(nc_text, 16).map_err(|_| DigestError::NonceCount)?;
    if nc == 0 {
        return Err(DigestError::NonceCount);
    }
    Ok(nc)
}

/// `name = token | quoted-string` separated by commas, LWS anywhere between.
fn auth_params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            i += 1;
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= b.len() {
            break;
        }
        if out.len() >= MAX_PARAMS {
            return Err(DigestError::TooManyParams);
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| crate::sip::header::is_token_char(*c) || *c == b'*')
        {
            i += 1;
        }
        let name = s.get(start..i).ok_or(DigestError::Syntax)?;
        if name.is_empty() {
            return Err(DigestError::Syntax);
        }
        i = skip_ws(i);
        if b.get(i) != Some(&b'=') {
            return Err(DigestError::Syntax);
        }
        i = skip_ws(i + 1);
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(DigestError::Syntax),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let c = b.get(i + 1).ok_or(DigestError::Syntax)?;
                        v.push(*c);
                        i += 2;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).map_err(|_| DigestError::Syntax)?
        } else {
            let vs = i;
            while b
                .get(i)
                .is_some_and(|c| crate::sip::header::is_token_char(*c) || *c == b'/' || *c == b'=')
            {
                i += 1;
            }
            if vs == i {
                return Err(DigestError::Syntax);
            }
            s.get(vs..i).ok_or(DigestError::Syntax)?.to_string()
        };
        out.push((name.to_string(), value));
        i = skip_ws(i);
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(DigestError::Syntax),
        }
    }
    Ok(out)
}

/// One `WWW-Authenticate` value. Send one per algorithm, in [`Algorithm::ALL`] order
/// (RFC 8760 §2.4). `stale` tells the client its credentials were right and only the
/// nonce had expired, so it retries without asking the user (RFC 7616 §3.3).
pub fn challenge(realm: &str, nonce: &str, alg: Algorithm, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={alg}, qop=\"auth\"{stale}")
}

/// The challenges for one 401: every algorithm, SHA-256 first, same nonce.
pub fn challenges(realm: &str, nonce: &str, stale: bool) -> Vec<String> {
    Algorithm::ALL
        .iter()
        .map(|a| challenge(realm, nonce, *a, stale))
        .collect()
}

/// The `response` a client with the right HA1 would send (RFC 7616 §3.4.1, qop=auth).
pub fn expected_response(c: &Credentials, method: &str, ha1_hex: &str) -> String {
    let ha2 = c
        .algorithm
        .hash_hex(format!("{method}:{}", c.uri).as_bytes());
    c.algorithm.hash_hex(
        format!(
            "{ha1_hex}:{}:{}:{}:auth:{ha2}",
            c.nonce, c.nc_text, c.cnonce
        )
        .as_bytes(),
    )
}

/// Does `c` prove knowledge of the password behind `ha1_hex`? Always does the full
/// hash work and a constant-time compare, whatever the inputs.
pub fn verify(c: &Credentials, method: &str, ha1_hex: &str) -> bool {
    let expected = expected_response(c, method, &ha1_hex.to_ascii_lowercase());
    constant_time_eq(expected.as_bytes(), c.response.as_bytes())
}

/// Equal-length inputs are compared without an early exit; length itself is public
/// (it follows from the algorithm).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// HMAC-SHA256 (RFC 2104), written out because it is ten lines and the crate
/// already depends on `sha2`.
fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        if let (Some(a), Some(b)) = (ipad.get_mut(i), opad.get_mut(i)) {
            *a ^= k;
            *b ^= k;
        }
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, for this address, not expired.
    Fresh,
    /// Ours and for this address, but older than the ttl: answer `stale=true` if the
    /// response was otherwise right.
    Stale,
    /// Not ours, tampered with, for another address, or from before a restart.
    Invalid,
}

/// Issues and checks stateless nonces and keeps the replay table.
#[derive(Debug)]
pub struct NonceKeeper {
    secret: [u8; 32],
    /// Timestamps in nonces count milliseconds from here, so no wall clock is needed
    /// (and nonces from before a restart fail the MAC: new secret).
    epoch: Instant,
    ttl: Duration,
    /// Highest nc accepted per nonce, for nonces that authenticated.
    seen: HashMap<String, u32>,
    /// Insertion order of `seen`, to evict the oldest when full.
    order: VecDeque<(Instant, String)>,
    max_tracked: usize,
    /// Makes every issued nonce unique, even two in the same millisecond.
    counter: u32,
    /// Milliseconds added to every timestamp: the wall-clock time of `epoch` since
    /// 1970, so that nodes sharing a secret agree on a nonce's age.
    offset_ms: u64,
}

/// How far ahead of our clock another node's nonce may be (clocks of two nodes differ
/// a little even with NTP).
const MAX_SKEW_MS: u64 = 2_000;

/// Hex chars of the timestamp part, then of the MAC part (128 bits is plenty).
const TS_HEX: usize = 16;
const SALT_HEX: usize = 8;
const MAC_HEX: usize = 32;

impl NonceKeeper {
    /// `secret` comes from the engine's seeded RNG; `ttl` is capped by config at 300 s.
    pub fn new(epoch: Instant, secret: [u8; 32], ttl: Duration) -> NonceKeeper {
        NonceKeeper {
            secret,
            epoch,
            ttl,
            seen: HashMap::new(),
            order: VecDeque::new(),
            max_tracked: DEFAULT_MAX_TRACKED_NONCES,
            counter: 0,
            offset_ms: 0,
        }
    }

    /// Timestamps count from 1970 (`wall_ms` is the wall-clock time at the epoch, in
    /// ms) instead of from the epoch: the nonces of another node with the same secret
    /// (`[registrar] nonce_secret_file`) then check here with their true age.
    pub fn with_wall_epoch(mut self, wall_ms: u64) -> NonceKeeper {
        self.offset_ms = wall_ms;
        self
    }

    fn now_ms(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.epoch).as_millis() as u64).saturating_add(self.offset_ms)
    }

    /// Caps the replay table at `max` nonces (at least 1; default
    /// [`DEFAULT_MAX_TRACKED_NONCES`]); the oldest entry goes first.
    pub fn with_max_tracked(mut self, max: usize) -> NonceKeeper {
        self.max_tracked = max.max(1);
        self
    }

    /// How long an issued nonce stays fresh.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self, ts: u64, salt: u32, ip: IpAddr) -> String {
        let mut msg = ts.to_be_bytes().to_vec();
        msg.extend_from_slice(&salt.to_be_bytes());
        match ip {
            IpAddr::V4(v4) => msg.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => msg.extend_from_slice(&v6.octets()),
        }
        let mac = hmac_sha256(&self.secret, &msg);
        let mut h = hex::encode(mac);
        h.truncate(MAC_HEX);
        h
    }

    /// A fresh nonce for a client at `ip`: 56 hex characters (timestamp, counter, MAC).
    pub fn issue(&mut self, now: Instant, ip: IpAddr) -> String {
        let ts = self.now_ms(now);
        self.counter = self.counter.wrapping_add(1);
        let salt = self.counter;
        format!("{ts:016x}{salt:08x}{}", self.mac(ts, salt, ip))
    }

    /// Checks origin and age; the MAC comparison is constant-time.
    pub fn check(&self, now: Instant, ip: IpAddr, nonce: &str) -> NonceStatus {
        if nonce.len() != TS_HEX + SALT_HEX + MAC_HEX || !nonce.is_ascii() {
            return NonceStatus::Invalid;
        }
        let (ts_hex, rest) = nonce.split_at(TS_HEX);
        let (salt_hex, mac) = rest.split_at(SALT_HEX);
        let (Ok(ts), Ok(salt)) = (
            u64::from_str_radix(ts_hex, 16),
            u32::from_str_radix(salt_hex, 16),
        ) else {
            return NonceStatus::Invalid;
        };
        if !constant_time_eq(
            self.mac(ts, salt, ip).as_bytes(),
            mac.to_ascii_lowercase().as_bytes(),
        ) {
            return NonceStatus::Invalid;
        }
        let now_ms = self.now_ms(now);
        let skew = if self.offset_ms > 0 { MAX_SKEW_MS } else { 0 };
        if ts > now_ms.saturating_add(skew) {
            return NonceStatus::Invalid;
        }
        if Duration::from_millis(now_ms.saturating_sub(ts)) > self.ttl {
            NonceStatus::Stale
        } else {
            NonceStatus::Fresh
        }
    }

    /// Records `nc` for a nonce whose response verified. False when `nc` is not above
    /// the highest seen for that nonce: a replay (RFC 7616 §3.4: the server SHOULD
    /// reject a repeated nc).
    pub fn accept_nc(&mut self, now: Instant, nonce: &str, nc: u32) -> bool {
        if let Some(highest) = self.seen.get_mut(nonce) {
            if nc <= *highest {
                return false;
            }
            *highest = nc;
            return true;
        }
        self.evict(now);
        self.seen.insert(nonce.to_string(), nc);
        self.order.push_back((now, nonce.to_string()));
        true
    }

    /// Drops entries older than the ttl (their nonces are stale anyway, so a replay
    /// of them is answered `stale` and never accepted), then the oldest if still full.
    fn evict(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) > self.ttl;
            if !expired && self.seen.len() < self.max_tracked {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
    }

    /// Entries in the replay table (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests;
