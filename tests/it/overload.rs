//! Past capacity: new emergency calls get 503 with Retry-After (the carrier sends them
//! to another center), calls in progress go on, the refusals are summed per source, and the
//! gateway accepts calls again as soon as it has room.

use std::time::Duration;

use cc112::config::UtcOffset;
use cc112::store::UtcMs;

use crate::harness::{scenario, sipp, Gateway};
use crate::records::{list, report_json};

#[test]
fn past_max_calls_new_callers_get_503_with_retry_after_and_a_summary_row() {
    let gw = Gateway::start_with("\n[overload]\nmax_calls = 3\nretry_after = \"4s\"");
    let since = UtcMs(UtcMs::now().0 - 60_000).rfc3339(UtcOffset::WIB);
    let uri = format!("sip:112@{}", gw.sip);
    let sc = scenario("caller_or_503.xml");
    // 8 callers within 80 ms, each holding 3 s once answered: 3 are served, 5 refused.
    // The scenario fails a call whose 503 lacks Retry-After, and any other response.
    let run = sipp(&gw, &["-sf", sc.to_str().unwrap(), "-key", "ruri", &uri, "-m", "8", "-r", "100", "-l", "8", "-d", "3000"]);
    assert_eq!((run.successful, run.failed, run.exit_code), (8, 0, Some(0)), "{}\n{}", run.stdout, gw.log());
    assert!(gw.log().contains("overload: new calls answered 503 with Retry-After"), "{}", gw.log());
    // A refusal costs no call record: the calls list holds the 3 served callers, and
    // the refusals are one summary row per source, reason and second, which the
    // report sums, with the refused callers' numbers for a call back.
    let rows = list(&gw, &since);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(gw.wait_events("refused", 1, Duration::from_secs(3)), "{}", gw.log());
    let refused: u64 = gw.events("refused").iter().map(|e| e["fields"]["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(refused, 5, "{}", gw.log());
    let report = report_json(&gw, &since);
    assert_eq!(report["refused"]["total"], 5, "{report:#}");
    assert_eq!(report["refused"]["by_reason"]["max_calls"], 5, "{report:#}");
    let callers = report["refused"]["callers"].as_array().cloned().unwrap_or_default();
    assert!(!callers.is_empty() && callers.iter().all(|c| c.as_str().is_some_and(|c| c.starts_with("08123"))), "{report:#}");
    // The served calls have ended: there is room again, and a strict caller (any
    // response but 200 fails it) gets through.
    let plain = scenario("caller.xml");
    let run = sipp(&gw, &["-sf", plain.to_str().unwrap(), "-key", "ruri", &uri, "-m", "2", "-d", "200"]);
    assert_eq!((run.successful, run.failed), (2, 0), "{}\n{}", run.stdout, gw.log());
    assert!(gw.wait_events("ended", 5, Duration::from_secs(10)), "{}", gw.log());
}
