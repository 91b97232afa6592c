"""W2, concurrent calls with media (issue 7).

For N = 500, 1,000, 2,000, 4,000 concurrent calls (--quick: 100 and 300), each size on a
fresh gateway: SIPp (bench/sipp/w2_caller.xml) places N calls at N/15 calls/s (all up
within ~15 s) and holds each 30 s (--quick: N/5 calls/s, 10 s) while the gateway plays its
IVR prompts (greeting, menu, then the 'general' queue's hold prompts: no operator exists).
The RTP ends of the calls are bench/rtp_meter.rs: one port per call (from SIPp's injection
file), kernel receive timestamps, RFC 3550 loss and jitter, the largest gap inside a
talkspurt, and 20 ms PCMU frames sent back to the gateway like a phone.

Reported per N: calls ok/failed (SIPp), the gateway's CPU % (one core = 100 %) over the
window when all N calls are up and its largest RSS, RTP packets received and sent by the
callers, loss %, and over streams p50/p99 of the per-stream mean jitter and of the
largest gap. Target: 2,000 calls with loss < 0.1 %, jitter p99 < 5 ms, gap p99 < 60 ms.

Options: --quick; --sizes=500,1000 (instead of the default sizes); --media-ports=LO-HI
(the gateway's RTP range, default 20000-39999; the run waits while another process holds
ports it needs); --audio=tone|silence (what the callers send, see rtp_meter --help);
--codec=pcmu|opus (the callers offer only that codec, with telephone-event/8000; Opus
callers send pre-encoded Opus and measure in 48 kHz units, see rtp_meter).
"""
import json, os, resource, select, subprocess, sys, tempfile, threading, time

from lib import PAGE, ROOT, TICK, sipp_counts, start_gateway, stop_gateway, write_result

METER = os.path.join(ROOT, "target/release/examples/rtp_meter")
SCENARIO = os.path.join(ROOT, "bench/sipp/w2_caller.xml")
SIP_PORT = 45100
SIPP_PORT, SIPP_MEDIA_PORT = 45160, 46100
MEDIA_PORTS = (20000, 39999)
METER_BASE_PORT = 50000
FAIL_STOP_PCT = 5.0


def raise_fd_limit(n):
    """The gateway holds two sockets per call (RTP, RTCP), the meter one per call; the
    gateway and the meter inherit this process's limit."""
    need = 3 * n + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return True
    if hard != resource.RLIM_INFINITY and hard < need:
        print(f"  open files: need {need}, hard limit {hard}: skipping N={n}")
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return True


def proc_times_rss(pid):
    """(user CPU s, system CPU s, RSS bytes) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) / TICK, int(parts[12]) / TICK, int(parts[21]) * PAGE


def machine_busy_s():
    """CPU seconds all cores of the machine have spent busy since boot (/proc/stat),
    and of those in softirq (the kernel's packet processing; charged also to the
    process it interrupted, or to ksoftirqd)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return (sum(v[:8]) - v[3] - v[4]) / TICK, v[6] / TICK


class Sampler(threading.Thread):
    """Every 0.5 s: (time, user+system CPU s, RSS bytes, system CPU s) of each pid, and
    the busy CPU seconds of the whole machine (key "machine")."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.halt = list(pids), threading.Event()
        self.samples = {p: [] for p in self.pids + ["machine"]}

    def add(self, pid):
        self.samples[pid] = []
        self.pids.append(pid)

    def run(self):
        while not self.halt.is_set():
            now = time.monotonic()
            for p in list(self.pids):
                try:
                    user, system, rss = proc_times_rss(p)
                    self.samples[p].append((now, user + system, rss, system))
                except (OSError, IndexError, ValueError):
                    pass
            try:
                busy, softirq = machine_busy_s()
                self.samples["machine"].append((now, busy, 0, softirq))
            except (OSError, ValueError):
                pass
            self.halt.wait(0.5)

    def cpu_pct(self, pid, t0, t1, field=1):
        """CPU % (field 3: system CPU only) between the first and last samples in [t0, t1]."""
        s = [x for x in self.samples.get(pid, []) if t0 <= x[0] <= t1]
        if len(s) < 2 or s[-1][0] <= s[0][0]:
            return float("nan")
        return 100.0 * (s[-1][field] - s[0][field]) / (s[-1][0] - s[0][0])

    def max_rss(self, pid):
        return max((x[2] for x in self.samples.get(pid, [])), default=0)


def udp_ports_in_use():
    ports = set()
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                for line in f.readlines()[1:]:
                    ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
        except (OSError, IndexError, ValueError):
            pass
    return ports


def wait_ports_free(ranges, max_wait_s=900):
    """Other benchmarks on this machine may hold ports this run needs (the gateway takes
    media ports in order from the bottom of its range): wait for them to go, up to
    max_wait_s, then go on and say so. Returns how many were still held."""
    end, said = time.monotonic() + max_wait_s, False
    while True:
        held = udp_ports_in_use()
        busy = sum(1 for lo, hi in ranges for p in range(lo, hi + 1) if p in held)
        if busy == 0 or time.monotonic() > end:
            if busy:
                print(f"  still {busy} ports of {ranges} held by another process: going on; expect failed calls")
            return busy
        if not said:
            print(f"  waiting: {busy} UDP ports of {ranges} are held by another process (another benchmark?)", flush=True)
            said = True
        time.sleep(5)


def wait_ready(p, timeout):
    """Waits for the meter's 'ready' line on stderr."""
    end = time.monotonic() + timeout
    line = b""
    while time.monotonic() < end:
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r:
            line = p.stderr.readline()
            if line.startswith(b"ready"):
                return line.decode().strip()
            if not line:
                break
        if p.poll() is not None:
            break
    rest = p.stderr.read().decode(errors="replace") if p.poll() is not None else ""
    sys.exit(f"rtp_meter did not start: {line.decode(errors='replace')}{rest}")


def peak_concurrent(stat_csv):
    """Largest CurrentCall in SIPp's -trace_stat file."""
    try:
        with open(stat_csv) as f:
            rows = [l.rstrip("\n").split(";") for l in f if l.strip()]
        col = rows[0].index("CurrentCall")
        return max(int(r[col]) for r in rows[1:] if len(r) > col and r[col].isdigit())
    except (OSError, ValueError, IndexError):
        return None


def gateway_warnings(tmp):
    try:
        with open(os.path.join(tmp, "gw.log"), errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return 0, []
    bad = [l.strip() for l in lines if " WARN " in l or " ERROR " in l or "panicked" in l]
    # Bind failures in the media range: another process (another benchmark on this
    # shared machine) holds those ports; calls that fail from this are not the gateway's.
    collisions = sum(1 for l in bad if "RTP port could not be opened" in l)
    return len(bad), bad[:5], collisions


OPUS_OFFER = ("m=audio [field0] RTP/AVP 111 101\n      a=rtpmap:111 opus/48000/2\n"
              "      a=fmtp:111 useinbandfec=1\n")


def scenario_for(meter_args, tmp):
    """The SIPp caller scenario for the codec in `meter_args` (PCMU: the file as it is)."""
    codec = meter_args[meter_args.index("--codec") + 1] if "--codec" in meter_args else "pcmu"
    if codec == "pcmu":
        return SCENARIO
    with open(SCENARIO) as f:
        text = f.read()
    old = "m=audio [field0] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n"
    if old not in text:
        sys.exit(f"{SCENARIO}: the PCMU offer to replace is not there")
    path = os.path.join(tmp, "w2_caller_opus.xml")
    with open(path, "w") as f:
        f.write(text.replace(old, OPUS_OFFER))
    return path


def one_size(n, ramp_s, hold_s, media_ports, meter_args):
    busy = wait_ports_free([(media_ports[0], min(media_ports[1], media_ports[0] + 2 * n + 200)),
                            (METER_BASE_PORT, METER_BASE_PORT + 2 * n), (SIP_PORT, SIP_PORT), (SIPP_PORT, SIPP_PORT)])
    rate = max(1, -(-n // ramp_s))  # ceil: all calls offered within ramp_s
    with tempfile.TemporaryDirectory(prefix=f"w2-{n}-") as tmp:
        inf = os.path.join(tmp, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(n):
                f.write(f"{METER_BASE_PORT + 2 * i};\n")
        gw = start_gateway(tmp, SIP_PORT, media_ports=media_ports)
        limit = ramp_s + hold_s + 90
        meter = subprocess.Popen(
            [METER, "--base-port", str(METER_BASE_PORT), "--count", str(n), "--seconds", str(limit + 30),
             "--hold-seconds", str(hold_s)] + meter_args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_ready(meter, 30)
            stat = os.path.join(tmp, "stat.csv")
            args = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", scenario_for(meter_args, tmp), "-inf", inf,
                    "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(SIPP_PORT), "-mp", str(SIPP_MEDIA_PORT),
                    "-m", str(n), "-l", str(n), "-r", str(rate), "-d", str(hold_s * 1000),
                    "-nostdin", "-timeout", f"{limit}s", "-timeout_error",
                    "-trace_stat", "-fd", "1", "-stf", stat]
            sampler = Sampler([gw.pid, meter.pid])
            sampler.start()
            t0 = time.monotonic()
            with open(os.path.join(tmp, "sipp.out"), "w+") as so, open(os.path.join(tmp, "sipp.err"), "w+") as se:
                sipp = subprocess.Popen(args, cwd=tmp, stdout=so, stderr=se, stdin=subprocess.DEVNULL)
                sampler.add(sipp.pid)
                try:
                    sipp_exit = sipp.wait(timeout=limit + 60)
                except subprocess.TimeoutExpired:
                    sipp.kill()
                    sipp_exit = sipp.wait()
                wall = time.monotonic() - t0
                sampler.halt.set()
                sampler.join()
                so.seek(0)
                se.seek(0)
                sipp_out, sipp_err = so.read(), se.read()
            # Hang up the meter: its JSON comes on stdout.
            out, err = meter.communicate(input=b"", timeout=60)
            try:
                m = json.loads(out)
            except ValueError:
                sys.exit(f"rtp_meter gave no JSON: {out[-500:]!r} {err[-2000:]!r}")
        finally:
            if meter.poll() is None:
                meter.kill()
                meter.wait()
            stop_gateway(gw)
        ok, failed = sipp_counts(sipp_out)
        # All N calls are up from the end of the ramp (plus margin) until the first
        # calls hang up, hold_s after they started.
        w0, w1 = t0 + ramp_s + 1.5, t0 + hold_s - 0.5
        warn_count, warn_first, collisions = gateway_warnings(tmp)
        row = {
            # Unix time of SIPp's start: the meter's gaps_over_40ms_by_second is in Unix seconds.
            "t0_unix": time.time() - (time.monotonic() - t0),
            "calls": n, "rate_cps": rate, "hold_s": hold_s, "ok": ok, "failed": failed,
            "fail_pct": 100.0 * failed / max(1, n), "sipp_exit": sipp_exit, "sipp_wall_s": wall,
            "peak_concurrent": peak_concurrent(stat), "window_s": [ramp_s + 1.5, hold_s - 0.5],
            "gw_cpu_pct": sampler.cpu_pct(gw.pid, w0, w1), "gw_sys_cpu_pct": sampler.cpu_pct(gw.pid, w0, w1, 3), "gw_rss_mb": sampler.max_rss(gw.pid) / 1e6,
            "meter_cpu_pct": sampler.cpu_pct(meter.pid, w0, w1), "meter_sys_cpu_pct": sampler.cpu_pct(meter.pid, w0, w1, 3),
            "sipp_cpu_pct": sampler.cpu_pct(sipp.pid, w0, w1),
            # Everything else on the machine over the window (other agents' builds and
            # benchmarks), in the same unit: one core = 100 %, this machine has os.cpu_count().
            "softirq_cpu_pct": sampler.cpu_pct("machine", w0, w1, 3),
            "others_cpu_pct": sampler.cpu_pct("machine", w0, w1) - sampler.cpu_pct(gw.pid, w0, w1)
            - sampler.cpu_pct(meter.pid, w0, w1) - sampler.cpu_pct(sipp.pid, w0, w1),
            "rtp_received": m["received"], "rtp_sent": m["sent"], "loss_pct": m["loss_pct"],
            "jitter_p50_ms": m["jitter_mean_ms"]["p50"], "jitter_p99_ms": m["jitter_mean_ms"]["p99"],
            "gap_p50_ms": m["largest_gap_ms"]["p50"], "gap_p99_ms": m["largest_gap_ms"]["p99"],
            "ports_held_by_others_at_start": busy, "gateway_warnings": warn_count, "media_port_collisions": collisions, "gateway_warnings_first": warn_first,
            "meter": m,
        }
        if sipp_exit != 0 and failed == 0:
            row["sipp_stderr"] = sipp_err[-2000:]
        return row


def main():
    quick = "--quick" in sys.argv
    sizes = [100, 300] if quick else [500, 1000, 2000, 4000]
    ramp_s, hold_s = (5, 10) if quick else (15, 30)
    media_ports, meter_args = MEDIA_PORTS, []
    for a in sys.argv[1:]:
        if a.startswith("--media-ports="):
            lo, hi = a.split("=", 1)[1].split("-")
            media_ports = (int(lo), int(hi))
        elif a.startswith("--sizes="):
            sizes = [int(x) for x in a.split("=", 1)[1].split(",")]
        elif a.startswith("--audio="):
            meter_args += ["--audio", a.split("=", 1)[1]]
        elif a.startswith("--codec="):
            meter_args += ["--codec", a.split("=", 1)[1]]
        elif a != "--quick":
            sys.exit(f"w2.py: unknown argument {a}")
    if not os.path.exists(METER):
        sys.exit(f"{METER} missing: cargo build --release --example rtp_meter")
    print(f"W2 concurrent calls with media: N calls at N/{ramp_s} calls/s, each held {hold_s} s hearing "
          f"the IVR and hold prompts (no operators); callers = rtp_meter (kernel timestamps, "
          f"20 ms PCMU back to the gateway)")
    print("cpu% = gateway over the window when all N calls are up (one core = 100 %); jitter = per-stream "
          "mean of RFC 3550 J (ms); gap = per-stream largest gap inside a talkspurt (ms); p50/p99 over streams;\n"
          f"peak = SIPp's most concurrent calls; meter% = rtp_meter's CPU; other% = the rest of the machine "
          f"(other work, not this benchmark, and ksoftirqd) over the same window, of {os.cpu_count()} cores x 100 %")
    print(f"{'N':>5} {'ok':>5} {'failed':>6} {'cpu%':>6} {'rss MB':>7} {'rtp rx':>9} {'rtp tx':>9} "
          f"{'loss%':>7} {'jit50':>6} {'jit99':>6} {'gap50':>6} {'gap99':>6} {'peak':>5} {'meter%':>6} {'other%':>6}", flush=True)
    rows, stopped = [], None
    for n in sizes:
        if not raise_fd_limit(n):
            stopped = f"N={n}: not enough open files"
            break
        row = one_size(n, ramp_s, hold_s, media_ports, meter_args)
        rows.append(row)
        print(f"{n:>5} {row['ok']:>5} {row['failed']:>6} {row['gw_cpu_pct']:>6.1f} {row['gw_rss_mb']:>7.1f} "
              f"{row['rtp_received']:>9} {row['rtp_sent']:>9} {row['loss_pct']:>7.3f} "
              f"{row['jitter_p50_ms'] or 0:>6.2f} {row['jitter_p99_ms'] or 0:>6.2f} "
              f"{row['gap_p50_ms'] or 0:>6.1f} {row['gap_p99_ms'] or 0:>6.1f} "
              f"{row['peak_concurrent'] if row['peak_concurrent'] is not None else '-':>5} "
              f"{row['meter_cpu_pct']:>6.1f} {row['others_cpu_pct']:>6.1f}", flush=True)
        m = row["meter"]
        # A phone sends 50 frames/s for the whole hold; the meter stops hold_s after the
        # first packet. Fewer means the meter could not keep up (machine saturated).
        tx_expected = 50 * hold_s * m["streams_seen"]
        if m["sent"] < 0.95 * tx_expected:
            print(f"      callers sent {m['sent']} of ~{tx_expected} frames (sender up to {m['sender_max_lag_ms']:.0f} ms "
                  f"late): the meter did not keep up, so the gateway carried less caller RTP than a real load")
        if m["dropped_by_meter_socket"] or m["streams_seen"] < n or row["gateway_warnings"]:
            print(f"      streams with RTP {m['streams_seen']}/{n}, dropped by the meter's own sockets "
                  f"{m['dropped_by_meter_socket']}, gateway warnings {row['gateway_warnings']}"
                  + (f" (first: {row['gateway_warnings_first'][0][:160]})" if row["gateway_warnings_first"] else ""))
        if row["fail_pct"] > FAIL_STOP_PCT:
            stopped = f"N={n}: {row['fail_pct']:.1f} % of calls failed (> {FAIL_STOP_PCT} %): larger sizes skipped"
            if row["media_port_collisions"]:
                stopped += (f"; {row['media_port_collisions']} media ports were held by another process: "
                            f"re-run when the machine is quiet or with --media-ports=LO-HI")
            print(f"stopping: {stopped}")
            break
        time.sleep(2)
    target = next((r for r in rows if r["calls"] == 2000), None)
    if target:
        met = (target["fail_pct"] == 0 and target["loss_pct"] < 0.1 and (target["jitter_p99_ms"] or 99) < 5
               and (target["gap_p99_ms"] or 999) < 60)
        print(f"target at 2,000 calls (loss < 0.1 %, jitter p99 < 5 ms, gap p99 < 60 ms): {'met' if met else 'NOT met'}")
    res = {"workload": "W2", "media_ports": media_ports, "meter_args": meter_args, "ramp_s": ramp_s, "hold_s": hold_s, "rows": rows, "stopped": stopped}
    print(f"written {write_result('w2', res)}")


if __name__ == "__main__":
    main()
