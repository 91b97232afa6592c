//! [`Config::summary`]: the few lines `check-config` and the startup log print, so an
//! administrator sees the plan as the gateway understood it.

use std::net::SocketAddr;

use super::plan::Config;
use super::routing_plan::RoutingPlan;

impl Config {
    /// A few lines for the startup log and `--check` output.
    pub fn summary(&self) -> String {
        let list = |v: &[SocketAddr]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let numbers = self
            .emergency
            .numbers
            .iter()
            .map(|n| format!("{} ({})", n.number, n.label))
            .collect::<Vec<_>>()
            .join(", ");
        let codecs = self
            .media
            .codecs
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "config version {}\n\
             sip: udp {}; tcp {}; max message {} bytes{}\n\
             emergency numbers: {}\n\
             emergency URNs: {}\n\
             media: {} ports {}-{}; codecs {}\n\
             {}\n\
             {}",
            self.version,
            list(&self.sip.listen_udp),
            list(&self.sip.listen_tcp),
            self.sip.max_message_bytes,
            match self.sip.trusted_proxies.as_slice() {
                [] => String::new(),
                p => format!("; relayed by trusted proxies {}", p.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
            },
            if numbers.is_empty() {
                "none".into()
            } else {
                numbers
            },
            if self.emergency.service_urns.is_empty() {
                "none".to_string()
            } else {
                self.emergency.service_urns.join(", ")
            },
            self.media.address,
            self.media.port_min,
            self.media.port_max,
            codecs,
            routing_summary(&self.routing),
            operators_summary(self),
        ) + &format!(
            "\nrecords: {}; shifts {}{}\noverload: 503 (Retry-After {}s) past {} calls{}, or while behind by over {:?} (INVITEs waiting, or media late)\nshutdown: calls in progress go on for up to {:?} (a second SIGTERM: 10s)",
            self.store.path.display(),
            self.store.shifts.iter().map(|(n, s, e)| format!("{n} {s}-{e}")).collect::<Vec<_>>().join(", "),
            match (&self.store.central, &self.node.name) {
                (None, _) => String::new(),
                (Some(_), Some(n)) => format!("; shipped to the central view as node {n}"),
                (Some(_), None) => "; shipped to the central view under the host name".to_string(),
            },
            self.overload.retry_after.as_secs(),
            self.overload.max_calls,
            match self.overload.max_call_rate {
                0 => String::new(),
                r => format!(" or {r} new calls/s"),
            },
            self.overload.max_delay,
            self.shutdown.grace,
        ) + &format!(
            "\nhttp: {}; {} token(s)",
            if self.http.listen.is_empty() {
                "off".to_string()
            } else {
                self.http.listen.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            },
            self.http.tokens.len(),
        )
    }
}

/// The routing part of [`Config::summary`]: what a caller can reach and how, so an
/// admin running `check-config` sees the menu as the caller will hear it.
fn routing_summary(r: &RoutingPlan) -> String {
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let languages = join(r.languages.iter().map(|l| l.code.to_string()).collect());
    let menus = r
        .menus
        .values()
        .map(|m| {
            let options = join(
                m.options
                    .iter()
                    .map(|o| format!("{} {}", o.digit, o.action))
                    .collect(),
            );
            let root = if m.id == r.root_menu { " (root)" } else { "" };
            format!("menu {}{root}: {options}", m.id)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let direct = join(
        r.direct
            .iter()
            .map(|d| format!("{} -> {}", d.number, d.queue))
            .collect(),
    );
    let queues = join(
        r.queues
            .iter()
            .map(|q| match &q.open {
                None => q.id.to_string(),
                Some(rules) => format!(
                    "{} (open {}; else {})",
                    q.id,
                    rules
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    q.overflow.as_ref().unwrap_or(&r.fallback_queue)
                ),
            })
            .collect(),
    );
    format!(
        "ivr: languages {languages}; key timeout {:?}, {} repeat(s), {} retr(ies), then {}; \
         silent callers reach it within {:?}; barge-in {}\n\
         {menus}\n\
         direct numbers: {direct}\n\
         queues (UTC{}): {queues}",
        r.first_digit_timeout,
        r.no_input_repeats,
        r.retries,
        r.fallback_queue,
        r.no_input_limit,
        if r.barge_in { "on" } else { "off" },
        r.utc_offset,
    )
}

/// The ACD/registrar part of [`Config::summary`]: who can log in and where calls wait.
fn operators_summary(c: &Config) -> String {
    let ops = if c.operators.is_empty() {
        "none (no operator can register)".to_string()
    } else {
        c.operators
            .iter()
            .map(|o| {
                format!(
                    "{} ({})",
                    o.id,
                    o.departments
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("/")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "acd: wrap-up {:?}, ring {:?}, overflow after {:?}, stay-on-line every {:?}, class up every {:?} waited\n\
         registrar: realm {:?}, nonce ttl {:?}, expires {:?}..{:?} (default {:?}), \
         {} failures per address and user, {} per operator, per {:?}{}\n\
         operators: {ops}",
        c.acd.wrap_up,
        c.acd.ring_timeout,
        c.acd.overflow_after,
        c.acd.stay_on_line_every,
        c.acd.max_priority_wait,
        c.registrar.realm,
        c.registrar.nonce_ttl,
        c.registrar.min_expires,
        c.registrar.max_expires,
        c.registrar.default_expires,
        c.registrar.failed_attempts,
        c.registrar.failed_attempts_per_user,
        c.registrar.failed_window,
        c.registrar.nonce_secret_file.as_ref().map_or(String::new(), |f| format!("; nonce secret shared from {}", f.display())),
    )
}
