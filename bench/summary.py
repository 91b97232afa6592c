"""Medians over the latest runs of each workload (issue 7 asks for medians of 3 runs).

    python3 bench/summary.py [--runs=3]

Reads bench/results/<workload>-*.json, takes the newest `runs` of each, and prints one
Markdown table per workload with the median of every figure (and, for the verdicts, how
many runs met the target). Nothing is measured here.
"""
import glob, json, math, os, statistics, sys

from lib import ROOT


def latest(workload, n):
    files = sorted(glob.glob(os.path.join(ROOT, "bench/results", f"{workload}-*.json")))[-n:]
    out = []
    for f in files:
        with open(f) as fh:
            out.append((os.path.basename(f), json.load(fh)))
    return out


def med(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else float("nan")


def f(x, d=1):
    if isinstance(x, float) and math.isnan(x):
        return "–"
    return f"{x:.{d}f}"


def table(title, runs, key, columns):
    """Prints `title`, a header of `columns`, and yields (value of `key`, that value's rows
    from every run) in ascending order: one table row each."""
    print(f"### {title} (median of {len(runs)}: {', '.join(n for n, _ in runs)})\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for value in sorted({r[key] for _, d in runs for r in d["rows"]}):
        yield value, [r for _, d in runs for r in d["rows"] if r[key] == value]


def w1(runs):
    cols = ["calls/s", "runs", "failed %", "gateway CPU %", "CPU ms/call", "RSS MB", "setup p50 / p99 ms"]
    for rate, rows in table("W1 call setup", runs, "rate", cols):
        print(f"| {rate} | {len(rows)} | {f(med(r['fail_pct'] for r in rows), 3)} | {f(med(r['cpu_pct'] for r in rows))} | "
              f"{f(med(r['cpu_ms_per_call'] for r in rows), 3)} | {f(med(r['rss_mb'] for r in rows))} | "
              f"{f(med(r['setup_p50_ms'] for r in rows), 0)} / {f(med(r['setup_p99_ms'] for r in rows), 0)} |")
    limits = [d["max_rate_ok"] for _, d in runs]
    print(f"\nhighest rate with < 0.1 % failed: {limits} → median **{med(limits):.0f} calls/s**\n")


def overload(runs):
    print(f"### Overload (median of {len(runs)}: {', '.join(n for n, _ in runs)})\n")
    keys = [("base_rate", "base rate (calls/s)", 0), ("surge_offered_per_s", "offered in the surge (calls/s)", 0),
            ("surge_accepted_per_s", "accepted in the surge (calls/s)", 0), ("surge_refused_503", "answered 503 in the surge", 0),
            ("sipp_failed_calls", "failed calls (no answer, timeouts)", 0),
            ("recovered_s_after_surge", "full rate again after the surge (s)", 0),
            ("rss_pre_mb", "RSS before the surge (MB)", 1), ("rss_after_mb", "RSS after (MB)", 1), ("rss_change_pct", "RSS change (%)", 1)]
    print("| figure | median | runs |")
    print("|---|---|---|")
    for k, label, d in keys:
        vals = [r.get(k) for _, r in runs]
        print(f"| {label} | {f(med(vals), d)} | {', '.join('–' if v is None else f(v, d) for v in vals)} |")
    print()


def w2(runs):
    cols = ["calls", "runs", "failed %", "gateway CPU %", "RSS MB", "loss %", "jitter p50 / p99 ms", "gap p50 / p99 ms", "meter CPU %"]
    for n, rows in table("W2 concurrent calls with media", runs, "calls", cols):
        print(f"| {n} | {len(rows)} | {f(med(r['fail_pct'] for r in rows), 2)} | {f(med(r['gw_cpu_pct'] for r in rows))} | "
              f"{f(med(r['gw_rss_mb'] for r in rows))} | {f(med(r['loss_pct'] for r in rows), 3)} | "
              f"{f(med(r['jitter_p50_ms'] for r in rows), 2)} / {f(med(r['jitter_p99_ms'] for r in rows), 2)} | "
              f"{f(med(r['gap_p50_ms'] for r in rows))} / {f(med(r['gap_p99_ms'] for r in rows))} | {f(med(r['meter_cpu_pct'] for r in rows))} |")
    print()


def w3(runs):
    cols = ["calls/s", "runs", "success %", "INVITE → op INVITE p50 / p99 ms", "INVITE → bridged p50 / p99 ms",
            "digit end → op INVITE p50 / p99 ms (wire)", "gateway CPU %"]
    for rate, rows in table("W3 full path", runs, "rate", cols):
        ext = [r["digit_end_to_op_invite_ms_external"] or {"p50": float("nan"), "p99": float("nan")} for r in rows]
        print(f"| {rate} | {len(rows)} | {f(med(r['success_pct'] for r in rows), 1)} | "
              f"{f(med(r['invite_to_op_invite_ms']['p50'] for r in rows))} / {f(med(r['invite_to_op_invite_ms']['p99'] for r in rows))} | "
              f"{f(med(r['invite_to_bridged_ms']['p50'] for r in rows))} / {f(med(r['invite_to_bridged_ms']['p99'] for r in rows))} | "
              f"{f(med(e['p50'] for e in ext), 2)} / {f(med(e['p99'] for e in ext), 2)} | {f(med(r['cpu_pct'] for r in rows))} |")
    print()


def main():
    n = 3
    for a in sys.argv[1:]:
        if a.startswith("--runs="):
            n = int(a.split("=", 1)[1])
    for name, fn in (("w1", w1), ("w2", w2), ("w3", w3), ("overload", overload)):
        runs = latest(name, n)
        if runs:
            fn(runs)
        else:
            print(f"### {name}: no results in bench/results\n")


if __name__ == "__main__":
    main()
