"""W1 watched (issue 15): the W1 call-setup ramp with 20 wallboards and a Prometheus
scrape every second against the gateway, against the same ramp with nobody watching.

Both variants run the gateway with its HTTP server on (127.0.0.1:18112, a viewer token),
so the difference is what the watchers cost: per wallboard one server-sent-events
connection to `--events-path` read continuously and a GET of `--board-path` every
`--board-every` s (bench/watchers.py), and one GET /metrics every `--metrics-every` s.
The variants alternate (none, watched, none, watched...), each on a fresh gateway, so a
machine whose load drifts weighs on both alike. The ramp is W1's (INVITE -> 200 -> ACK ->
1 s -> BYE, up in steps until 0.1 % of the calls fail), started higher and with shorter
steps than `bench/run w1` so that the pairs fit in a few minutes: see `--from`,
`--seconds`.

    python3 bench/w1_watched.py [--rounds=2] [--from=2400] [--step=300] [--to=6000]
        [--seconds=10] [--wallboards=20] [--board-path=/api/v1/status] [--board-every=0.5]
        [--events-path=/api/v1/events] [--metrics-every=1] [--quick]

Point `--board-path` at /api/v1/wallboard once the wallboard page's own route exists.
"""
import hashlib, secrets, statistics, sys, tempfile, time

from lib import ramp_step, start_gateway, stop_gateway, write_result
from watchers import Watchers

HTTP_PORT = 18112


def arg(name, default, cast=str):
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return cast(a.split("=", 1)[1])
    return default


def ramp(gw, port, rates, seconds, tmp, tag):
    rows = []
    for rate in rates:
        row = ramp_step(gw.pid, port, rate, seconds, tmp, f"{tag}-{rate}")
        rows.append(row)
        print(f"  {tag:>8} {rate:>6} {row['ok']:>7} {row['failed']:>6} {row['fail_pct']:>7.3f} {row['cpu_pct']:>6.1f} "
              f"{row['cpu_ms_per_call']:>8.3f} {row['setup_p50_ms']:>7.1f} {row['setup_p99_ms']:>7.1f}", flush=True)
        if row["fail_pct"] >= 0.1:
            break
        time.sleep(2)
    good = [r["rate"] for r in rows if r["fail_pct"] < 0.1]
    return rows, (max(good) if good else 0)


def run_variant(watched, opts, token, sha):
    rates = list(range(opts["from"], opts["to"] + 1, opts["step"]))
    extra = (f'[http]\nlisten = ["127.0.0.1:{HTTP_PORT}"]\n'
             f'[[http.tokens]]\nname = "bench-wallboard"\nrole = "viewer"\nsha256 = "{sha}"\n')
    tag = "watched" if watched else "none"
    with tempfile.TemporaryDirectory() as tmp:
        port = 45000
        gw = start_gateway(tmp, port, extra_toml=extra)
        w = None
        try:
            if watched:
                w = Watchers("127.0.0.1", HTTP_PORT, token, wallboards=opts["wallboards"], board_path=opts["board_path"],
                             board_every=opts["board_every"], events_path=opts["events_path"],
                             metrics_every=opts["metrics_every"], max_seconds=len(rates) * (opts["seconds"] + 40) + 60).start()
                time.sleep(2)
            rows, best = ramp(gw, port, rates, opts["seconds"], tmp, tag)
        finally:
            got = w.stop() if w else None
            stop_gateway(gw)
    if got:
        print(f"  watchers: {got}", flush=True)
    return {"variant": tag, "rows": rows, "max_rate_ok": best, "watchers": got}


def med(v):
    v = [x for x in v if x is not None and x == x]
    return statistics.median(v) if v else float("nan")


def summary(runs):
    """Medians per variant: the highest rate, and at every rate both variants passed in
    all their runs, setup p99 and CPU per call."""
    out = {}
    for tag in ("none", "watched"):
        rs = [r for r in runs if r["variant"] == tag]
        out[tag] = {"runs": len(rs), "max_rate_ok": [r["max_rate_ok"] for r in rs], "max_rate_ok_median": med(r["max_rate_ok"] for r in rs)}
    common = min(min(r["max_rate_ok"] for r in runs), max(r["max_rate_ok"] for r in runs))
    rates = sorted({row["rate"] for r in runs for row in r["rows"] if row["rate"] <= common})
    for tag in ("none", "watched"):
        rows = [row for r in runs if r["variant"] == tag for row in r["rows"]]
        out[tag]["by_rate"] = {rate: {
            "setup_p99_ms": med(x["setup_p99_ms"] for x in rows if x["rate"] == rate),
            "setup_p50_ms": med(x["setup_p50_ms"] for x in rows if x["rate"] == rate),
            "cpu_ms_per_call": med(x["cpu_ms_per_call"] for x in rows if x["rate"] == rate),
        } for rate in rates}
    return out


def main():
    quick = "--quick" in sys.argv
    opts = {
        "rounds": arg("rounds", 1 if quick else 2, int), "from": arg("from", 100 if quick else 2400, int),
        "step": arg("step", 200 if quick else 300, int), "to": arg("to", 300 if quick else 6000, int),
        "seconds": arg("seconds", 5 if quick else 10, int), "wallboards": arg("wallboards", 20, int),
        "board_path": arg("board-path", "/api/v1/status"), "board_every": arg("board-every", 0.5, float),
        "events_path": arg("events-path", "/api/v1/events"), "metrics_every": arg("metrics-every", 1.0, float),
    }
    token = "cc112_" + secrets.token_hex(32)
    sha = hashlib.sha256(token.encode()).hexdigest()
    print(f"W1 watched: {opts['wallboards']} wallboards (SSE {opts['events_path']} + GET {opts['board_path']} every "
          f"{opts['board_every']} s) and GET /metrics every {opts['metrics_every']} s, vs none; ramp from {opts['from']} "
          f"calls/s in steps of {opts['step']}, {opts['seconds']} s each")
    print(f"  {'variant':>8} {'cps':>6} {'ok':>7} {'failed':>6} {'fail%':>7} {'cpu%':>6} {'ms/call':>8} {'p50 ms':>7} {'p99 ms':>7}")
    runs = []
    for _ in range(opts["rounds"]):
        for watched in (False, True):
            runs.append(run_variant(watched, opts, token, sha))
            time.sleep(3)
    s = summary(runs)
    for tag in ("none", "watched"):
        print(f"{tag}: highest rate with < 0.1% failed, median {s[tag]['max_rate_ok_median']} (runs {s[tag]['max_rate_ok']})")
    for rate in s["none"]["by_rate"]:
        a, b = s["none"]["by_rate"][rate], s["watched"]["by_rate"][rate]
        print(f"  {rate:>6} calls/s: setup p99 {a['setup_p99_ms']:.1f} vs {b['setup_p99_ms']:.1f} ms, "
              f"CPU {a['cpu_ms_per_call']:.3f} vs {b['cpu_ms_per_call']:.3f} ms/call")
    print(f"written {write_result('w1_watched', {'workload': 'W1 watched', 'options': opts, 'runs': runs, 'summary': s})}")


if __name__ == "__main__":
    main()
