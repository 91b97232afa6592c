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
//!
//! The counts come from where they are taken: the engine's [`crate::engine::Stats`]
//! (its SIP and call tallies included), the record writer's health (its commit-time
//! histogram) and the media shards' RTP sums. Histograms are already counted there and
//! are written by [`Histograms`]. Label values come from the code or the configuration
//! (methods, statuses the engine sent, queue ids, outcome names), never from the network.

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::Live;
use crate::call::acd::{AcdSnapshot, OperatorStatus};
use crate::clock::Histogram;
use crate::engine::tally::{CallTally, DepartmentTally, SipTally, SIP_METHODS, STATUS_CLASSES};
use crate::media::totals::RtpTotals;
use crate::store::record::Outcome;

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

/// Histograms already counted (by the engine, the record writer), one per label set
/// (none: a single histogram). `prometheus-client`'s own histogram only observes.
#[derive(Debug)]
struct Histograms(Vec<(Labels, Histogram)>);

impl EncodeMetric for Histograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            let mut buckets: Vec<(f64, u64)> = h.buckets().collect();
            buckets.push((f64::INFINITY, h.count().saturating_sub(buckets.iter().map(|b| b.1).sum())));
            if labels.is_empty() {
                encoder.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &buckets, None)?;
            } else {
                encoder.encode_family(labels)?.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &buckets, None)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The snapshot as the text `/metrics` answers.
pub(super) fn render(live: &Live, central: Option<&super::gauges::CentralGauges>) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("cc112");
    calls_and_sip(&mut r, live);
    departments(&mut r, &live.engine.stats.calls, &live.engine.acd);
    sip_messages(&mut r, &live.engine.stats.sip);
    rtp(&mut r, &live.rtp);
    queues_and_operators(&mut r, &live.engine.acd);
    if let Some(h) = &live.records {
        gauge(&mut r, "records_waiting", "Call records waiting to be written to the disk", count(h.queue_depth));
        gauge(&mut r, "records_capacity", "Call records that may wait for the disk (past it new calls get 503)", count(h.capacity));
        gauge(&mut r, "records_full", "1 while the record queue is full and new calls get 503", i64::from(h.full));
        counter(&mut r, "records_committed", "Call records written to the disk since start", h.committed_records);
        counter(&mut r, "records_dropped_events", "Timeline events dropped because the record queue was past half full", h.dropped_events);
        r.register("record_commit_seconds", "How long the record writer's commits took (one transaction per batch of records, fsync included)", Histograms(vec![(Vec::new(), h.commit_seconds.clone())]));
    }
    if let Some(c) = central {
        use std::sync::atomic::Ordering::Relaxed;
        gauge(&mut r, "central_rows_behind", "Call records of this node not yet shipped to the central view in PostgreSQL", c.rows_behind.load(Relaxed));
        gauge(&mut r, "central_up", "1 while the central view in PostgreSQL is reachable", i64::from(c.up.load(Relaxed)));
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

/// Calls ended by department and outcome, and answer times by department: every
/// configured queue is listed (zeros until its first call), plus `none` once a call
/// ended before the IVR routed it.
fn departments(r: &mut Registry, calls: &CallTally, acd: &AcdSnapshot) {
    let empty = DepartmentTally::default();
    let mut names: Vec<&str> = acd.queues.iter().map(|q| q.id.as_str()).collect();
    names.extend(calls.departments.keys().map(String::as_str));
    names.sort_unstable();
    names.dedup();
    let ended = Family::<Labels, Counter>::default();
    let mut answer = Vec::with_capacity(names.len());
    for name in names {
        let d = calls.departments.get(name).unwrap_or(&empty);
        for (o, n) in Outcome::ALL.iter().zip(d.ended.iter()) {
            ended.get_or_create(&vec![("department", name.to_string()), ("outcome", o.as_str().to_string())]).inc_by(*n);
        }
        answer.push((vec![("department", name.to_string())], d.answer_time.clone()));
    }
    r.register("calls_ended", "Emergency calls ended since start, by department (the queue the IVR routed them to; none: not routed) and outcome (as the shift report names them)", ended);
    r.register("answer_time_seconds", "From the INVITE accepted to an operator's answer, for calls operators answered, by department (NENA target: 90 % within 15 s)", Histograms(answer));
}

fn sip_messages(r: &mut Registry, t: &SipTally) {
    let m: Vec<(&str, u64)> = SIP_METHODS.iter().copied().zip(t.requests_in.iter().copied()).collect();
    counters(r, "sip_requests_received", "SIP requests received, by method (other: any method not listed)", "method", &m);
    let m: Vec<(&str, u64)> = STATUS_CLASSES.iter().copied().zip(t.responses_in.iter().copied()).collect();
    counters(r, "sip_responses_received", "SIP responses received, by status class (other: no valid status)", "class", &m);
    let m: Vec<(&str, u64)> = SIP_METHODS.iter().copied().zip(t.requests_out.iter().copied()).collect();
    counters(r, "sip_requests_sent", "SIP requests sent (to operators' phones, BYEs to callers), by method", "method", &m);
    let codes: Vec<(String, u64)> = t.statuses_sent().map(|(c, n)| (c.to_string(), n)).collect();
    let m: Vec<(&str, u64)> = codes.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    counters(r, "sip_responses_sent", "SIP responses sent, by status code (only codes sent at least once)", "status", &m);
}

fn rtp(r: &mut Registry, t: &RtpTotals) {
    counter(r, "rtp_packets_received", "Datagrams read on calls' RTP ports, valid or not", t.received);
    counter(r, "rtcp_packets_received", "RTCP packets received (RTCP port or multiplexed on RTP)", t.rtcp_received);
    counter(r, "rtp_packets_sent", "RTP packets sent: prompts, and audio relayed between caller and operator", t.sent);
    counters(
        r,
        "rtp_packets_dropped",
        "RTP datagrams received and dropped, by reason",
        "reason",
        &[("foreign_source", t.dropped_foreign_source), ("malformed", t.dropped_malformed), ("payload_type", t.dropped_payload_type)],
    );
    counters(r, "rtp_packets_unsent", "RTP packets not sent, by reason (no_remote: no caller address known yet; send_failed: the socket's buffer was full)", "reason", &[("no_remote", t.unsent_no_remote), ("send_failed", t.send_failed)]);
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
    use std::time::Duration;

    use super::{classic, render};
    use crate::http::gauges::CentralGauges;
    use crate::call::acd::AcdSnapshot;
    use crate::engine::{Snapshot, Stats};
    use crate::http::Live;
    use crate::media::totals::RtpTotals;
    use crate::store::record::Outcome;

    fn live(stats: Stats) -> Live {
        let acd = AcdSnapshot { queues: Vec::new(), operators: Vec::new() };
        let engine = Snapshot { config_version: "v1".into(), calls_in_progress: 0, draining: false, stats, acd, calls: Vec::new() };
        let rtp = RtpTotals { received: 7, sent: 5, dropped_foreign_source: 2, send_failed: 1, ..RtpTotals::default() };
        Live { engine, records: None, build_time: Duration::ZERO, rtp, config: std::sync::Arc::new(crate::config::Config::embedded_default().unwrap()) }
    }

    #[test]
    fn the_engines_tallies_render_as_labelled_counters_and_histograms() {
        let mut stats = Stats::default();
        stats.sip.received(b"INVITE sip:112@x SIP/2.0\r\n");
        stats.sip.received(b"\x00\x01 hostile");
        stats.sip.received(b"SIP/2.0 180 Ringing\r\n");
        stats.sip.sent(b"SIP/2.0 503 Service Unavailable\r\n");
        let fire = stats.calls.departments.entry("fire".into()).or_default();
        fire.ended[Outcome::ALL.iter().position(|o| *o == Outcome::AbandonedQueue).unwrap()] = 3;
        fire.answer_time.observe(Duration::from_millis(4_200));
        fire.answer_time.observe(Duration::from_secs(200));
        let text = render(&live(stats), Some(&CentralGauges::default())).unwrap();
        for line in [
            "# TYPE cc112_calls_ended_total counter",
            "cc112_calls_ended_total{department=\"fire\",outcome=\"abandoned_queue\"} 3",
            "cc112_calls_ended_total{department=\"fire\",outcome=\"answered\"} 0",
            "# TYPE cc112_answer_time_seconds histogram",
            "cc112_answer_time_seconds_bucket{le=\"2.0\",department=\"fire\"} 0",
            "cc112_answer_time_seconds_bucket{le=\"5.0\",department=\"fire\"} 1",
            "cc112_answer_time_seconds_bucket{le=\"120.0\",department=\"fire\"} 1",
            "cc112_answer_time_seconds_bucket{le=\"+Inf\",department=\"fire\"} 2",
            "cc112_answer_time_seconds_count{department=\"fire\"} 2",
            "cc112_answer_time_seconds_sum{department=\"fire\"} 204.2",
            "cc112_sip_requests_received_total{method=\"INVITE\"} 1",
            "cc112_sip_requests_received_total{method=\"other\"} 1",
            "cc112_sip_responses_received_total{class=\"1xx\"} 1",
            "cc112_sip_responses_sent_total{status=\"503\"} 1",
            "cc112_rtp_packets_received_total 7",
            "cc112_rtp_packets_sent_total 5",
            "cc112_rtp_packets_dropped_total{reason=\"foreign_source\"} 2",
            "cc112_rtp_packets_unsent_total{reason=\"send_failed\"} 1",
            "cc112_config_info{version=\"v1\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
        }
        // Only statuses sent appear; the hostile first line made no label of its own.
        assert!(!text.contains("status=\"100\""), "{text}");
        assert!(!text.contains("hostile"), "{text}");
        assert!(text.contains("cc112_central_rows_behind 0\n") && text.contains("cc112_central_up 0\n"), "{text}");
        // Every family has its HELP and TYPE, counters named as their samples.
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(helps, text.lines().filter(|l| l.starts_with("# TYPE ")).count());
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn counter_families_are_named_as_their_samples_and_eof_goes() {
        let om = "# HELP a_b Calls.\n# TYPE a_b counter\na_b_total{x=\"1\"} 2\n# HELP a_g A gauge.\n# TYPE a_g gauge\n# UNIT a_g seconds\na_g 1.5\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP a_b_total Calls.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 2\n# HELP a_g A gauge.\n# TYPE a_g gauge\na_g 1.5\n"
        );
    }
}
