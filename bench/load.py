"""cc112 load benchmarks (issue 7). W1: call setup rate.

W1 offers INVITE -> 200 -> ACK -> 1 s -> BYE at increasing rates, 20 s each, and
reports the highest rate sustained with < 0.1 % failed calls, with the gateway's CPU %,
CPU ms per call, RSS, and setup time (INVITE to 200) p50/p99 from SIPp's RTD log.
"""
import json, os, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/cc112")
SCENARIO = os.path.join(ROOT, "tests/sipp/caller.xml")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / TICK
    rss = int(parts[21]) * PAGE
    return cpu, rss


def start_gateway(tmp, port):
    cfg = os.path.join(tmp, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[sip]\nlisten_udp = ["127.0.0.1:{port}"]\nlisten_tcp = ["127.0.0.1:{port}"]\n'
                f'[media]\naddress = "127.0.0.1"\nport_min = 20000\nport_max = 39999\n')
    os.symlink(os.path.join(ROOT, "config/prompts"), os.path.join(tmp, "prompts"))
    log = open(os.path.join(tmp, "gw.log"), "w")
    p = subprocess.Popen([BIN, "--log-level", "warn", "run", "--config", cfg], stdout=log, stderr=log)
    time.sleep(0.5)
    return p


def sipp_run(port, rate, seconds, hold_ms, tmp, tag):
    calls = int(rate * seconds)
    rtt = os.path.join(tmp, f"rtt-{tag}.csv")
    args = ["sipp", f"127.0.0.1:{port}", "-sf", SCENARIO, "-key", "ruri", f"sip:112@127.0.0.1:{port}",
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "45060", "-mp", "46000",
            "-r", str(rate), "-m", str(calls), "-l", str(max(100, int(rate * (hold_ms / 1000 + 2)))),
            "-d", str(hold_ms), "-nostdin", "-timeout", f"{seconds + 30}s", "-timeout_error",
            "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", os.path.join(tmp, f"stat-{tag}.csv")]
    # -trace_rtt writes <scenario>_<pid>_rtt.csv in cwd: run in tmp.
    t0 = time.time()
    r = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0

    def count(label):
        for line in reversed(r.stdout.splitlines()):
            if line.strip().startswith(label):
                try:
                    return int(line.split("|")[2].strip())
                except (IndexError, ValueError):
                    pass
        return 0
    rtds = []
    for name in os.listdir(tmp):
        if name.endswith("_rtt.csv"):
            with open(os.path.join(tmp, name)) as f:
                for line in f.readlines()[1:]:
                    cols = line.strip().split(";")
                    if len(cols) >= 2:
                        try:
                            rtds.append(float(cols[1]))
                        except ValueError:
                            pass
            os.remove(os.path.join(tmp, name))
    return {"offered": calls, "ok": count("Successful call"), "failed": count("Failed call"), "wall_s": wall, "rtd_ms": rtds}


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def w1(quick):
    rates = [100, 200, 300, 400, 500, 600, 700, 800, 1000] if not quick else [100, 300]
    seconds = 20 if not quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        port = 45000
        gw = start_gateway(tmp, port)
        try:
            for rate in rates:
                cpu0, _ = proc_cpu_rss(gw.pid)
                r = sipp_run(port, rate, seconds, 1000, tmp, f"w1-{rate}")
                cpu1, rss = proc_cpu_rss(gw.pid)
                cpu = cpu1 - cpu0
                row = {
                    "rate": rate, "calls": r["offered"], "ok": r["ok"], "failed": r["failed"],
                    "fail_pct": 100.0 * r["failed"] / max(1, r["offered"]),
                    "cpu_pct": 100.0 * cpu / r["wall_s"], "cpu_ms_per_call": 1000.0 * cpu / max(1, r["ok"]),
                    "rss_mb": rss / 1e6, "setup_p50_ms": pct(r["rtd_ms"], 50), "setup_p99_ms": pct(r["rtd_ms"], 99),
                }
                rows.append(row)
                print(f"{rate:>6} {row['calls']:>7} {row['ok']:>7} {row['failed']:>6} {row['fail_pct']:>7.3f} "
                      f"{row['cpu_pct']:>6.1f} {row['cpu_ms_per_call']:>8.3f} {row['rss_mb']:>7.1f} "
                      f"{row['setup_p50_ms']:>8.2f} {row['setup_p99_ms']:>8.2f}", flush=True)
                if row["fail_pct"] >= 0.1:
                    break
                time.sleep(2)
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(timeout=20)
    good = [r["rate"] for r in rows if r["fail_pct"] < 0.1]
    return {"workload": "W1", "seconds_per_rate": seconds, "rows": rows, "max_rate_ok": max(good) if good else 0}


def main():
    quick = "--quick" in sys.argv
    print("W1 call setup: INVITE-200-ACK, 1 s, BYE (release build, SIPp on the same host)")
    print("setup = INVITE to 200 OK as SIPp measures it (1 ms resolution)")
    print(f"{'cps':>6} {'calls':>7} {'ok':>7} {'failed':>6} {'fail%':>7} {'cpu%':>6} {'ms/call':>8} {'rss MB':>7} {'p50 ms':>8} {'p99 ms':>8}")
    res = w1(quick)
    print(f"highest rate sustained with < 0.1% failed: {res['max_rate_ok']} calls/s")
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    out = os.path.join(ROOT, "bench/results", f"w1-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"written {out}")


if __name__ == "__main__":
    main()
