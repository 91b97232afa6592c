"""Shared pieces of the cc112 load benchmarks (issue 7): the gateway process, /proc
readings, SIPp runs, percentiles and result files. Each workload is its own script."""
import json, os, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CC112_BENCH_BIN: another build to measure (e.g. the commit before a change).
BIN = os.environ.get("CC112_BENCH_BIN") or os.path.join(ROOT, "target/release/cc112")
SCENARIO = os.path.join(ROOT, "tests/sipp/caller.xml")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# The load generators share this machine's 2 cores with the gateway under test. At
# full load the gateway's threads (two workers, the engine, the record writer) would
# take most of the CPU from single-threaded SIPp, which then reads its socket late and
# sends its ACKs and BYEs late: what is measured is SIPp falling behind, not the
# gateway (seen in the overload benchmark: calls piling up for want of their BYE). A
# carrier's equipment is not on our CPU, so SIPp runs at a higher priority (root:
# nice -10; elsewhere unchanged).
LOADGEN = ["nice", "-n", "-10"] if os.geteuid() == 0 else []


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / TICK
    rss = int(parts[21]) * PAGE
    return cpu, rss


def start_gateway(tmp, port, extra_toml="", log_level="warn", media_ports=(20000, 39999), sip_extra=""):
    """Starts the release gateway on 127.0.0.1:`port` (UDP and TCP), RTP on
    `media_ports` (two ports per call), records in `tmp`/data/cc112.db (the gateway
    runs in `tmp`). `extra_toml` is appended to the config (more tables: [acd],
    [registrar], [[operators]]...); `sip_extra` lines go into [sip]."""
    cfg = os.path.join(tmp, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[sip]\nlisten_udp = ["127.0.0.1:{port}"]\nlisten_tcp = ["127.0.0.1:{port}"]\n{sip_extra}\n'
                f'[media]\naddress = "127.0.0.1"\nport_min = {media_ports[0]}\nport_max = {media_ports[1]}\n')
        # No HTTP server unless a workload asks for one (it would take 127.0.0.1:8112).
        if "[http]" not in extra_toml:
            f.write("\n[http]\nlisten = []\n")
        f.write(extra_toml)
    link = os.path.join(tmp, "prompts")
    if not os.path.exists(link):
        os.symlink(os.path.join(ROOT, "config/prompts"), link)
    log = open(os.path.join(tmp, "gw.log"), "a")
    p = subprocess.Popen([BIN, "--log-level", log_level, "run", "--config", cfg], stdout=log, stderr=log, cwd=tmp)
    time.sleep(0.5)
    if p.poll() is not None:
        sys.exit(f"gateway exited at start; see {tmp}/gw.log:\n" + open(os.path.join(tmp, "gw.log")).read()[-2000:])
    return p


def stop_gateway(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def sipp_run(port, rate, seconds, hold_ms, tmp, tag):
    calls = int(rate * seconds)
    rtt = os.path.join(tmp, f"rtt-{tag}.csv")
    args = LOADGEN + ["sipp", f"127.0.0.1:{port}", "-sf", SCENARIO, "-key", "ruri", f"sip:112@127.0.0.1:{port}",
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "45060", "-mp", "46000",
            "-r", str(rate), "-m", str(calls), "-l", str(max(100, int(rate * (hold_ms / 1000 + 2)))),
            "-d", str(hold_ms), "-nostdin", "-timeout", f"{seconds + 30}s", "-timeout_error",
            "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", os.path.join(tmp, f"stat-{tag}.csv")]
    # -trace_rtt writes <scenario>_<pid>_rtt.csv in cwd: run in tmp.
    t0 = time.time()
    r = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0

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
    ok, failed = sipp_counts(r.stdout)
    return {"offered": calls, "ok": ok, "failed": failed, "wall_s": wall, "rtd_ms": rtds}


def ramp_step(pid, port, rate, seconds, tmp, tag):
    """One step of a W1 ramp: `rate` calls/s for `seconds` against the gateway `pid`;
    the row W1 and W1-watched print (calls, failures, CPU, setup p50/p99)."""
    cpu0, _ = proc_cpu_rss(pid)
    r = sipp_run(port, rate, seconds, 1000, tmp, tag)
    cpu1, rss = proc_cpu_rss(pid)
    cpu = cpu1 - cpu0
    return {
        "rate": rate, "calls": r["offered"], "ok": r["ok"], "failed": r["failed"],
        "fail_pct": 100.0 * r["failed"] / max(1, r["offered"]),
        "cpu_pct": 100.0 * cpu / r["wall_s"], "cpu_ms_per_call": 1000.0 * cpu / max(1, r["ok"]),
        "rss_mb": rss / 1e6, "setup_p50_ms": pct(r["rtd_ms"], 50), "setup_p99_ms": pct(r["rtd_ms"], 99),
    }


def sipp_count(stdout, label):
    """The cumulative figure of one line of SIPp's final screen ("Successful call")."""
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith(label):
            try:
                return int(line.split("|")[2].strip())
            except (IndexError, ValueError):
                pass
    return 0


def sipp_counts(stdout):
    """(successful, failed) calls from SIPp's final screen."""
    return sipp_count(stdout, "Successful call"), sipp_count(stdout, "Failed call")


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]




def write_result(workload, res):
    """Writes `res` to bench/results/<workload>-<time>.json and returns the path."""
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    out = os.path.join(ROOT, "bench/results", f"{workload}-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    return out
