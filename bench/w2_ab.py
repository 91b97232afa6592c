"""W2 A/B: two variants of W2 at one size, run alternately, medians and ratios (issue 17's
Opus callers against PCMU callers; issue 16's voice detector on against off).

    python3 bench/w2_ab.py codecs [--runs=3] [--size=1000]
        A = PCMU callers, B = Opus callers (bench/w2.py --codec=opus), same release build.
    python3 bench/w2_ab.py vad [--runs=3] [--size=1000] [--audio=tone|noise]
        A = the release build (voice detector on every caller until it hears speech),
        B = the same source with the detector never created (CC112_BENCH_BIN_OFF, made
        by bench/build-no-vad), PCMU callers sending the meter's tone.

Runs A, B, A, B... (--runs pairs), each on a fresh gateway as in W2 (N calls up within
15 s, held 30 s), so that the load of other work on a shared machine falls on both
alike; prints each run and the medians of the gateway's CPU (one core = 100 %, over the
window when all calls are up), CPU per call (ms of CPU per second of call), RSS, loss,
jitter p99 and gap p99, and B/A. Writes bench/results/w2-<what>-<time>.json.
"""
import os, statistics, sys, time

import lib
import w2


# The release binary, taken once: `main` points `lib.BIN` (what `lib.start_gateway` runs)
# at each side's binary in turn, so side A must not read it back from there (it did: every
# pair after the first ran the detector-off build on both sides).
RELEASE = lib.BIN


def variant(what, side):
    """(label, release binary, meter args) of side "A" or "B"."""
    if what == "codecs":
        return ("PCMU", RELEASE, []) if side == "A" else ("Opus", RELEASE, ["--codec", "opus"])
    off = os.environ.get("CC112_BENCH_BIN_OFF") or os.path.join(lib.ROOT, "target/no-vad/release/cc112")
    if not os.path.exists(off):
        sys.exit(f"{off} missing: bench/build-no-vad makes it (or set CC112_BENCH_BIN_OFF)")
    return ("detector on", RELEASE, []) if side == "A" else ("detector off", off, [])


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("codecs", "vad"):
        sys.exit("usage: w2_ab.py codecs|vad [--runs=3] [--size=1000]")
    what, runs, n = sys.argv[1], 3, 1000
    audio = []
    for a in sys.argv[2:]:
        if a.startswith("--runs="):
            runs = int(a.split("=", 1)[1])
        elif a.startswith("--size="):
            n = int(a.split("=", 1)[1])
        elif a.startswith("--audio="):
            audio = ["--audio", a.split("=", 1)[1]]
        else:
            sys.exit(f"w2_ab.py: unknown argument {a}")
    if not w2.raise_fd_limit(n):
        sys.exit("not enough open files")
    ramp_s, hold_s = 15, 30
    print(f"W2 A/B ({what}): {n} calls, {runs} alternating pairs; cpu% = gateway over the window when all "
          f"calls are up (one core = 100 %), ms/s = CPU ms per second of call; other% = the rest of the machine")
    print(f"{'variant':>13} {'ok':>5} {'fail':>5} {'cpu%':>6} {'ms/s':>6} {'rss MB':>7} {'loss%':>7} {'jit99':>6} {'gap99':>6} {'other%':>7}", flush=True)
    rows = {"A": [], "B": []}
    for _ in range(runs):
        for side in ("A", "B"):
            label, binary, meter_args = variant(what, side)
            lib.BIN = binary
            row = w2.one_size(n, ramp_s, hold_s, w2.MEDIA_PORTS, meter_args + audio)
            row["variant"], row["binary"] = label, binary
            row["cpu_ms_per_call_s"] = 10.0 * row["gw_cpu_pct"] / max(1, row["ok"])
            rows[side].append(row)
            print(f"{label:>13} {row['ok']:>5} {row['failed']:>5} {row['gw_cpu_pct']:>6.1f} {row['cpu_ms_per_call_s']:>6.3f} "
                  f"{row['gw_rss_mb']:>7.1f} {row['loss_pct']:>7.3f} {row['jitter_p99_ms'] or 0:>6.2f} "
                  f"{row['gap_p99_ms'] or 0:>6.1f} {row['others_cpu_pct']:>7.1f}", flush=True)
            time.sleep(2)
    med = lambda side, k: statistics.median([r[k] or 0 for r in rows[side]])
    keys = ["gw_cpu_pct", "cpu_ms_per_call_s", "gw_rss_mb", "loss_pct", "jitter_p99_ms", "gap_p99_ms", "others_cpu_pct"]
    summary = {side: {k: med(side, k) for k in keys} for side in rows}
    for side in ("A", "B"):
        s = summary[side]
        print(f"median {variant(what, side)[0]:>13}: cpu {s['gw_cpu_pct']:.1f} % ({s['cpu_ms_per_call_s']:.3f} ms/s per call), "
              f"rss {s['gw_rss_mb']:.0f} MB, loss {s['loss_pct']:.3f} %, jitter p99 {s['jitter_p99_ms']:.2f} ms, "
              f"gap p99 {s['gap_p99_ms']:.1f} ms, others {s['others_cpu_pct']:.0f} %")
    ratio = summary["B"]["gw_cpu_pct"] / max(1e-9, summary["A"]["gw_cpu_pct"])
    print(f"CPU B/A = {ratio:.3f} (medians; per-pair ratios: "
          + ", ".join(f"{b['gw_cpu_pct'] / max(1e-9, a['gw_cpu_pct']):.3f}" for a, b in zip(rows["A"], rows["B"])) + ")")
    res = {"workload": f"W2-{what}", "audio": audio, "calls": n, "runs": runs, "rows": rows, "medians": summary, "cpu_ratio_b_over_a": ratio}
    print(f"written {lib.write_result(f'w2-{what}', res)}")


if __name__ == "__main__":
    main()
