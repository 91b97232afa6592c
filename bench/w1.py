"""W1, call setup rate (issue 7).

Offers INVITE -> 200 -> ACK -> 1 s -> BYE at increasing rates, 20 s each, and reports the
highest rate sustained with < 0.1 % failed calls, with the gateway's CPU %, CPU ms per
call, RSS, and setup time (INVITE to 200) p50/p99 from SIPp's RTD log.
"""
import sys, tempfile, time

from lib import ramp_step, start_gateway, stop_gateway, write_result


def w1(quick):
    # Up in steps of 300 until calls fail (the loop stops at the first rate that does).
    # --from=R starts the ramp at R calls/s, --seconds=S makes each step S s: shorter runs
    # for A/B pairs (the README's W1 table is the full ramp).
    start = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--from=")), 300)
    rates = list(range(start, 6001, 300)) if not quick else [100, 300]
    seconds = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--seconds=")), 20 if not quick else 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        port = 45000
        gw = start_gateway(tmp, port)
        try:
            for rate in rates:
                row = ramp_step(gw.pid, port, rate, seconds, tmp, f"w1-{rate}")
                rows.append(row)
                print(f"{rate:>6} {row['calls']:>7} {row['ok']:>7} {row['failed']:>6} {row['fail_pct']:>7.3f} "
                      f"{row['cpu_pct']:>6.1f} {row['cpu_ms_per_call']:>8.3f} {row['rss_mb']:>7.1f} "
                      f"{row['setup_p50_ms']:>8.2f} {row['setup_p99_ms']:>8.2f}", flush=True)
                if row["fail_pct"] >= 0.1:
                    break
                time.sleep(2)
        finally:
            stop_gateway(gw)
    good = [r["rate"] for r in rows if r["fail_pct"] < 0.1]
    return {"workload": "W1", "seconds_per_rate": seconds, "rows": rows, "max_rate_ok": max(good) if good else 0}


def main():
    quick = "--quick" in sys.argv
    print("W1 call setup: INVITE-200-ACK, 1 s, BYE (release build, SIPp on the same host)")
    print("setup = INVITE to 200 OK as SIPp measures it (1 ms resolution)")
    print(f"{'cps':>6} {'calls':>7} {'ok':>7} {'failed':>6} {'fail%':>7} {'cpu%':>6} {'ms/call':>8} {'rss MB':>7} {'p50 ms':>8} {'p99 ms':>8}")
    res = w1(quick)
    print(f"highest rate sustained with < 0.1% failed: {res['max_rate_ok']} calls/s")
    print(f"written {write_result('w1', res)}")


if __name__ == "__main__":
    main()
