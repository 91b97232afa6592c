//! `/metrics`: a [`Live`] snapshot in the Prometheus text format (version 0.0.4). Names
//! start with `cc112_`, counters end in `_total`, durations are `_seconds`. Counts only:
//! no caller number, no call id.
//!
//! The `prometheus-client` crate writes OpenMetrics, whose counter families are named
//! without `_total` (`# TYPE cc112_calls_started counter` over the sample
//! `cc112_calls_started_total`) and which ends in `# EOF`. The classic text format that
//! `promtool check metrics` and every Prometheus version read wants the family named as
//! its samples: [`classic`] renames the counter families' `HELP` and `TYPE` lines and
//! drops `# EOF` (and `# UNIT`, which it lacks).

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Live;
use crate::call::acd::{AcdSnapshot, OperatorStatus};

/// The content type of [`render`]'s text.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every operator state, in the order they are listed.
const STATES: [OperatorStatus; 6] = [
    OperatorStatus::Offline,
    OperatorStatus::Available,
    OperatorStatus::Ringing,
    OperatorStatus::OnCall,
    OperatorStatus::WrapUp,
    OperatorStatus::Paused,
];

type Labels = Vec<(&'static str, String)>;

/// Operators per state, every state listed (0 when none is in it).
pub(super) fn operators_per_state(acd: &AcdSnapshot) -> BTreeMap<&'static str, usize> {
    let mut out: BTreeMap<&'static str, usize> = STATES.iter().map(|s| (s.as_str(), 0)).collect();
    for o in &acd.operators {
        *out.entry(o.state.as_str()).or_default() += 1;
    }
    out
}

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    r.register(name, help, c);
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    r.register(name, help, g);
}

fn gauge_f64(r: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(v);
    r.register(name, help, g);
}

fn counters(r: &mut Registry, name: &str, help: &str, label: &'static str, values: &[(&str, u64)]) {
    let f = Family::<Labels, Counter>::default();
    for (l, v) in values {
        f.get_or_create(&vec![(label, (*l).to_string())]).inc_by(*v);
    }
    r.register(name, help, f);
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The snapshot as the text `/metrics` answers.
pub(super) fn render(live: &Live) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("cc112");
    calls_and_sip(&mut r, live);
    queues_and_operators(&mut r, &live.engine.acd);
    if let Some(h) = &live.records {
        gauge(&mut r, "records_waiting", "Call records waiting to be written to the disk", count(h.queue_depth));
        gauge(&mut r, "records_capacity", "Call records that may wait for the disk (past it new calls get 503)", count(h.capacity));
        gauge(&mut r, "records_full", "1 while the record queue is full and new calls get 503", i64::from(h.full));
        counter(&mut r, "records_committed", "Call records written to the disk since start", h.committed_records);
        counter(&mut r, "records_dropped_events", "Timeline events dropped because the record queue was past half full", h.dropped_events);
    }
    // An info metric as the classic text format has it (a gauge of 1 named `_info`):
    // OpenMetrics' own `info` type is refused by promtool and older scrapers.
    let config = Family::<Labels, Gauge>::default();
    config.get_or_create(&vec![("version", live.engine.config_version.clone())]).set(1);
    r.register("config_info", "The configuration new calls start with (its content hash)", config);
    gauge(&mut r, "draining", "1 while the gateway is stopping (new calls get 503)", i64::from(live.engine.draining));
    gauge_f64(&mut r, "snapshot_build_seconds", "How long the last snapshot of the engine took to build on the signalling thread", live.build_time.as_secs_f64());
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(classic(&out))
}

/// OpenMetrics text as the classic Prometheus text format (see the module's doc).
fn classic(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(&name) { "_total" } else { "" };
                out.push_str(&format!("{prefix}{name}{total} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn calls_and_sip(r: &mut Registry, live: &Live) {
    let s = &live.engine.stats;
    gauge(r, "calls_in_progress", "Emergency calls in progress (IVR, queues, with an operator)", count(live.engine.calls_in_progress));
    counter(r, "calls_started", "Emergency calls accepted since start", s.calls_started);
    counter(r, "calls_answered", "Emergency calls answered 200 since start", s.calls_answered);
    counter(r, "calls_ended", "Emergency calls ended since start, whatever the reason", s.calls_ended);
    counter(r, "sip_messages_received", "SIP messages received, parsed or not", s.messages);
    counters(r, "sip_malformed", "Unparseable SIP messages, answered with a 4xx naming the problem or dropped", "action", &[("answered", s.malformed_answered), ("dropped", s.malformed_dropped)]);
    counters(r, "sip_strays", "Responses and ACKs that matched nothing (or came from elsewhere: forged)", "kind", &[("response", s.stray_responses), ("ack", s.stray_acks)]);
    counters(
        r,
        "invites_refused",
        "INVITEs to an emergency identity refused, by reason",
        "reason",
        &[
            ("overload", s.refused_overload),
            ("no_media_port", s.no_media_port),
            ("shutting_down", s.refused_shutting_down),
            ("no_record_room", s.refused_no_record),
            ("no_common_codec", s.no_common_codec),
        ],
    );
    counter(r, "invites_not_emergency", "INVITEs to an identity that is no emergency number (404)", s.not_emergency);
    counter(r, "registers_dropped", "REGISTERs dropped unanswered (a source locked out for guessing)", s.register_dropped);
}

fn queues_and_operators(r: &mut Registry, acd: &AcdSnapshot) {
    let waiting = Family::<Labels, Gauge>::default();
    let offering = Family::<Labels, Gauge>::default();
    let available = Family::<Labels, Gauge>::default();
    let oldest = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for q in &acd.queues {
        let l = vec![("queue", q.id.to_string())];
        waiting.get_or_create(&l).set(count(q.waiting));
        offering.get_or_create(&l).set(count(q.offering));
        available.get_or_create(&l).set(count(q.available));
        oldest.get_or_create(&l).set(q.longest_wait.map_or(0.0, |d| d.as_secs_f64()));
    }
    r.register("queue_callers_waiting", "Callers waiting in a department's queue (not counting those being offered)", waiting);
    r.register("queue_calls_offering", "Calls of a queue ringing an operator", offering);
    r.register("queue_oldest_wait_seconds", "How long the oldest call of a queue has waited (0: none)", oldest);
    r.register("queue_operators_available", "Operators of a queue available now", available);
    let per_state = Family::<Labels, Gauge>::default();
    for (state, n) in operators_per_state(acd) {
        per_state.get_or_create(&vec![("state", state.to_string())]).set(count(n));
    }
    r.register("operators", "Configured operators per state", per_state);
}

#[cfg(test)]
mod tests {
    use super::classic;

    #[test]
    fn counter_families_are_named_as_their_samples_and_eof_goes() {
        let om = "# HELP a_b Calls.\n# TYPE a_b counter\na_b_total{x=\"1\"} 2\n# HELP a_g A gauge.\n# TYPE a_g gauge\n# UNIT a_g seconds\na_g 1.5\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP a_b_total Calls.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 2\n# HELP a_g A gauge.\n# TYPE a_g gauge\na_g 1.5\n"
        );
    }
}
