"""Overload (issue 7): a surge of twice the sustainable rate, then back to normal.

One SIPp instance offers the base rate (INVITE -> 200 -> ACK -> 1 s -> BYE) for the
whole run; a second one adds the same rate again for the surge, so the gateway is
offered 2x the base rate for 20 s. Past capacity the gateway must answer the excess
with 503 + Retry-After (a carrier then tries another center) while the calls it accepted
keep going, and must serve the full base rate again within 5 s of the surge's end. The
gateway's RSS, sampled every second, must come back within 10 % of its pre-surge value.

The base rate is the W1 limit of the latest bench/results/w1-*.json (run `bench/run w1`
first), or --rate=N; the gateway's [overload] max_call_rate is set to it, as the README
tells an admin to (--no-rate-limit: only the delay guard). Per-second counts come from SIPp's -trace_counts (every -fd 1 s, cumulative per
scenario step); the caller scenario counts 503s on their own step.
"""
import glob, json, os, subprocess, sys, tempfile, threading, time

from lib import LOADGEN, ROOT, pct, proc_cpu_rss, sipp_counts, start_gateway, stop_gateway, write_result

SCENARIO = os.path.join(ROOT, "tests/sipp/caller_or_503.xml")
PORT = 45300


def sipp(tmp, tag, rate, seconds, sipp_port, media_port):
    """Starts one SIPp caller instance in tmp/tag; returns (process, directory)."""
    d = os.path.join(tmp, tag)
    os.makedirs(d, exist_ok=True)
    calls = int(rate * seconds)
    args = LOADGEN + ["sipp", f"127.0.0.1:{PORT}", "-sf", SCENARIO, "-key", "ruri", f"sip:112@127.0.0.1:{PORT}",
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(sipp_port), "-mp", str(media_port),
            "-r", str(rate), "-m", str(calls), "-l", str(rate * 20), "-d", "1000", "-nostdin",
            "-timeout", f"{seconds + 40}s", "-timeout_error", "-trace_counts", "-fd", "1"]
    out = open(os.path.join(d, "sipp.out"), "w")
    return subprocess.Popen(args, cwd=d, stdout=out, stderr=subprocess.STDOUT), d


def counts(d):
    """Per-second rows (epoch, cumulative counts by column name) of one SIPp instance."""
    rows = []
    for name in os.listdir(d):
        if not name.endswith("_counts.csv"):
            continue
        with open(os.path.join(d, name)) as f:
            head = f.readline().strip().rstrip(";").split(";")
            for line in f:
                cols = line.strip().rstrip(";").split(";")
                if len(cols) != len(head):
                    continue
                try:
                    t = float(cols[0].split("\t")[-1])
                    rows.append((t, {h: int(c) for h, c in zip(head[2:], cols[2:])}))
                except ValueError:
                    pass
    return rows


def col(row, suffix):
    """Sum of the columns ending in `suffix` (e.g. '_503_Recv')."""
    return sum(v for k, v in row.items() if k.endswith(suffix) and k.split("_", 1)[0].isdigit())


def per_second(rows, t0):
    """Deltas per second since t0: {second: (invites, ok_200, refused_503, timeouts)}."""
    out = {}
    prev = None
    for t, r in rows:
        # Step 2 is the INVITE's 503, step 3 its 200 (see tests/sipp/caller_or_503.xml).
        cur = (r.get("0_INVITE_Sent", 0), r.get("3_200_Recv", 0), r.get("2_503_Recv", 0),
               r.get("0_INVITE_Timeout", 0) + r.get("3_200_Timeout", 0) + col(r, "_Unexp"))
        if prev is not None:
            out[int(round(t - t0))] = tuple(c - p for c, p in zip(cur, prev))
        prev = cur
    return out


def summary(d):
    return sipp_counts(open(os.path.join(d, "sipp.out")).read())


def w1_limit():
    """The highest W1 rate of the latest bench/results/w1-*.json (600 if none)."""
    runs = sorted(glob.glob(os.path.join(ROOT, "bench/results/w1-*.json")))
    for path in reversed(runs):
        try:
            with open(path) as f:
                r = json.load(f)
            if r.get("max_rate_ok") and len(r.get("rows", [])) > 2:
                return int(r["max_rate_ok"]), os.path.basename(path)
        except (OSError, ValueError):
            pass
    return 600, None


def main():
    quick = "--quick" in sys.argv
    rate, source = w1_limit()
    print(f"base rate: {rate} calls/s ({'W1 limit from ' + source if source else 'default; run bench/run w1 first'})")
    for a in sys.argv[1:]:
        if a.startswith("--rate="):
            rate = int(a.split("=", 1)[1])
    if quick:
        rate = min(rate, 200)
    # The warm-up and the recovery outlast Timer H/J (32 s): the gateway holds each
    # call's transactions that long, so its RSS is in steady state before the surge and
    # the surge's state has expired before the "after" reading.
    # The gateway trims its memory at its next 5 s check once that state has expired.
    warm, surge, recover = (60, 20, 45) if not quick else (5, 5, 10)
    total = warm + surge + recover
    print(f"Overload: base {rate} calls/s for {total} s, plus {rate} calls/s more from {warm} s to {warm + surge} s "
          f"(2x for {surge} s); INVITE-200-ACK, 1 s, BYE")
    with tempfile.TemporaryDirectory() as tmp:
        # Configured as the README tells an admin: max_call_rate at the rate measured by
        # W1 (--no-rate-limit leaves only the delay guard).
        limit = 0 if "--no-rate-limit" in sys.argv else rate
        for a in sys.argv[1:]:
            if a.startswith("--max-call-rate="):
                limit = int(a.split("=", 1)[1])
        print(f"gateway: [overload] max_call_rate = {limit}")
        # The runtime's debug "load" line (every 5 s: calls, transactions, queued
        # messages and INVITEs) goes into the JSON with the overload warnings.
        gw = start_gateway(tmp, PORT, extra_toml=f"\n[overload]\nmax_call_rate = {limit}\n",
                           log_level="warn,cc112::load=debug")
        samples = []  # (t, cpu s, rss bytes)
        # The SIPp instances' CPU seconds by second: they share the 2 cores with the
        # gateway, and a starved load generator sends its BYEs and ACKs late.
        sipp_pids, sipp_cpu = [], {}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    c, r = proc_cpu_rss(gw.pid)
                    samples.append((time.time(), c, r))
                    for p in list(sipp_pids):
                        try:
                            sipp_cpu.setdefault(int(round(time.time() - t0)), {})[p] = proc_cpu_rss(p)[0]
                        except OSError:
                            pass
                except OSError:
                    return
                stop.wait(1.0)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            t0 = time.time()
            base, dbase = sipp(tmp, "base", rate, total, 45360, 46400)
            sipp_pids.append(base.pid)
            time.sleep(warm)
            extra, dextra = sipp(tmp, "surge", rate, surge, 45370, 46500)
            sipp_pids.append(extra.pid)
            extra.wait(timeout=surge + 120)
            base.wait(timeout=total + 120)
            time.sleep(3)  # the last calls' BYEs, then a quiet gateway
        finally:
            stop.set()
            th.join()
            stop_gateway(gw)
        log = open(os.path.join(tmp, "gw.log")).read()
        sb, se = per_second(counts(dbase), t0), per_second(counts(dextra), t0)
        secs = sorted(set(sb) | set(se))
        print(f"{'t s':>4} {'INVITE/s':>9} {'200/s':>7} {'503/s':>7} {'fail/s':>7} {'cpu%':>6} {'sipp%':>6} {'rss MB':>7}")
        timeline = []
        for s in secs:
            a = sb.get(s, (0, 0, 0, 0))
            b = se.get(s, (0, 0, 0, 0))
            inv, ok, ref, fail = (x + y for x, y in zip(a, b))
            near = [x for x in samples if abs(x[0] - t0 - s) < 0.6]
            prev = [x for x in samples if abs(x[0] - t0 - s + 1) < 0.6]
            cpu = 100 * (near[0][1] - prev[0][1]) / max(1e-3, near[0][0] - prev[0][0]) if near and prev else float("nan")
            rss = near[0][2] / 1e6 if near else float("nan")
            now_c, prev_c = sipp_cpu.get(s, {}), sipp_cpu.get(s - 1, {})
            sipp_pct = 100 * sum(now_c[p] - prev_c[p] for p in now_c if p in prev_c)
            timeline.append({"t": s, "invites": inv, "ok": ok, "refused_503": ref, "failed": fail, "cpu_pct": cpu,
                             "sipp_cpu_pct": sipp_pct, "rss_mb": rss})
            # Every second around the surge, every fifth elsewhere (all in the JSON).
            if warm - 3 <= s <= warm + surge + 8 or s % 5 == 0 or ref or fail:
                    print(f"{s:>4} {inv:>9} {ok:>7} {ref:>7} {fail:>7} {cpu:>6.1f} {sipp_pct:>6.1f} {rss:>7.1f}")
        # Recovery: the first second after the surge from which the base instance gets
        # a 200 for (almost) every INVITE, with no 503, for 3 seconds running.
        end = warm + surge
        recovered_at = None
        for s in range(end, total + 1):
            window = [sb.get(x) for x in range(s, s + 3)]
            if all(w and w[0] > 0 and w[2] == 0 and w[1] >= 0.97 * rate for w in window):
                recovered_at = s
                break
        pre = [x[2] for x in samples if warm - 3 <= x[0] - t0 <= warm]
        after = [x[2] for x in samples if total - 3 <= x[0] - t0 <= total]
        rss_pre = pct(pre, 50) / 1e6 if pre else float("nan")
        rss_after = pct(after, 50) / 1e6 if after else float("nan")
        ok_b, fail_b = summary(dbase)
        ok_e, fail_e = summary(dextra)
        surge_rows = [r for r in timeline if warm < r["t"] <= end]
        res = {
            "workload": "overload", "base_rate": rate, "max_call_rate": limit, "warm_s": warm, "surge_s": surge, "recover_s": recover,
            "timeline": timeline,
            "surge_offered_per_s": pct([r["invites"] for r in surge_rows], 50) if surge_rows else 0,
            "surge_accepted_per_s": pct([r["ok"] for r in surge_rows], 50) if surge_rows else 0,
            "surge_refused_503": sum(r["refused_503"] for r in surge_rows),
            "sipp_failed_calls": fail_b + fail_e, "sipp_ok_calls": ok_b + ok_e,
            "recovered_s_after_surge": None if recovered_at is None else recovered_at - end,
            "rss_pre_mb": rss_pre, "rss_after_mb": rss_after,
            "rss_change_pct": 100 * (rss_after - rss_pre) / rss_pre if pre and after else float("nan"),
            "gateway_overload_warnings": log.count("overload"),
            "gateway_log": [l for l in log.splitlines() if "cc112::load" in l or "overload" in l or "WARN" in l][:400],
        }
        print(f"surge: offered {res['surge_offered_per_s']}/s, accepted {res['surge_accepted_per_s']}/s (medians), "
              f"{res['surge_refused_503']} answered 503; SIPp calls ok {res['sipp_ok_calls']}, failed {res['sipp_failed_calls']}")
        print(f"back to the full base rate {res['recovered_s_after_surge']} s after the surge; "
              f"RSS {rss_pre:.1f} MB before, {rss_after:.1f} MB after ({res['rss_change_pct']:+.1f} %)")
        print(f"written {write_result('overload', res)}")


if __name__ == "__main__":
    main()
