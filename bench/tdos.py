"""TDoS (issue 13): one source floods INVITEs at 5x the W1 limit and never ACKs, while
legitimate callers from two other addresses call at 10 % of the W1 limit between them.

Target: >= 99 % of the legitimate calls answered, their setup (INVITE -> 200) p99 under
200 ms; the CPU each refused INVITE costs the gateway is reported.

Phases: 10 s of the legitimate callers alone (the gateway's CPU baseline), then the
flood joins for --seconds (default 20), then 5 s of the legitimate callers alone again.
Two layouts, each its own gateway:
  trunks:   the callers come from 127.0.0.3 and 127.0.0.4, listed in [sip] trunks; the
            flood from 127.0.0.2, the same /24 (a carrier's neighbour floods);
  networks: no trunks configured; the callers come from 127.0.1.3 and 127.0.2.4, the
            flood from 127.0.0.2 (three networks).
The gateway runs as an admin would run it past capacity: [overload] max_call_rate at
the W1 limit (the README's advice; --no-rate-limit: the delay guard alone).

    bench/run tdos [--rate=W1] [--seconds=20] [--layout=trunks|networks]
"""
import os, re, subprocess, sys, tempfile, threading, time

from lib import LOADGEN, ROOT, pct, proc_cpu_rss, sipp_counts, start_gateway, stop_gateway, write_result
from overload import w1_limit

PORT = 45400
SCENARIO = os.path.join(ROOT, "tests/sipp/caller.xml")
LAYOUTS = {
    "trunks": ("127.0.0.2", ["127.0.0.3", "127.0.0.4"], 'trunks = ["127.0.0.3", "127.0.0.4"]'),
    "networks": ("127.0.0.2", ["127.0.1.3", "127.0.2.4"], ""),
}


def caller(tmp, ip, rate, seconds, sipp_port, media_port):
    """A legitimate SIPp caller from `ip` (INVITE-200-ACK, 1 s, BYE); any answer but
    200 fails the call. Returns (process, directory)."""
    d = os.path.join(tmp, ip)
    os.makedirs(d, exist_ok=True)
    calls = int(rate * seconds)
    args = LOADGEN + ["sipp", f"127.0.0.1:{PORT}", "-sf", SCENARIO, "-key", "ruri", f"sip:112@127.0.0.1:{PORT}",
            "-i", ip, "-mi", ip, "-p", str(sipp_port), "-mp", str(media_port),
            "-r", str(rate), "-m", str(calls), "-l", str(max(50, rate * 5)), "-d", "1000", "-nostdin",
            "-timeout", f"{seconds + 40}s", "-timeout_error", "-trace_rtt", "-rtt_freq", "1"]
    out = open(os.path.join(d, "sipp.out"), "w")
    return subprocess.Popen(args, cwd=d, stdout=out, stderr=subprocess.STDOUT), d


def setup_times(d):
    """Every call's INVITE -> 200 time (ms) from SIPp's -trace_rtt file."""
    out = []
    for name in os.listdir(d):
        if name.endswith("_rtt.csv"):
            with open(os.path.join(d, name)) as f:
                for line in f.readlines()[1:]:
                    cols = line.strip().split(";")
                    try:
                        out.append(float(cols[1]))
                    except (IndexError, ValueError):
                        pass
    return out


def gateway_drops(port):
    """Datagrams the kernel dropped at the gateway's SIP UDP socket (its receive buffer
    full: the readers did not keep up), from the socket's line in /proc/net/udp."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port:
                return int(cols[-1])
    return 0


def cpu_between(samples, t0, t1):
    """The gateway's CPU seconds per second between two times (from 1 s samples)."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2:
        return float("nan")
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def run_layout(layout, rate, seconds, rate_limit):
    flood_ip, legit_ips, trunks = LAYOUTS[layout]
    flood_rate, legit_rate = 5 * rate, max(1, round(rate * 0.10 / len(legit_ips)))
    print(f"\n[{layout}] flood {flood_rate} INVITEs/s from {flood_ip} (never ACKed) for {seconds} s; "
          f"callers {legit_rate} calls/s from each of {', '.join(legit_ips)}; max_call_rate = {rate_limit}")
    with tempfile.TemporaryDirectory() as tmp:
        extra = f"\n[overload]\nmax_call_rate = {rate_limit}\n"
        gw = start_gateway(tmp, PORT, extra_toml=extra, log_level="warn", sip_extra=trunks)
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    c, r = proc_cpu_rss(gw.pid)
                    samples.append((time.time(), c, r))
                except OSError:
                    return
                stop.wait(1.0)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        alone, tail = 10, 5
        total = alone + seconds + tail
        drops = 0
        try:
            t0 = time.time()
            legit = [caller(tmp, ip, legit_rate, total, 45410 + 10 * i, 46600 + 100 * i) for i, ip in enumerate(legit_ips)]
            time.sleep(alone)
            t_flood = time.time()
            flood = subprocess.run(LOADGEN + ["python3", os.path.join(ROOT, "bench/flood.py"), f"127.0.0.1:{PORT}",
                                              flood_ip, str(flood_rate), str(seconds)],
                                   capture_output=True, text=True, timeout=seconds + 60)
            t_flood_end = time.time()
            for p, _ in legit:
                p.wait(timeout=total + 120)
            drops = gateway_drops(PORT)
        finally:
            stop.set()
            th.join()
            stop_gateway(gw)
        log = open(os.path.join(tmp, "gw.log")).read()
        refused = {}
        # The refusal summaries' log lines (text format: source=... reason="..." count=N).
        for m in re.finditer(r'source=(\S+) reason="?(\w+)"? count=(\d+)', log):
            refused[(m.group(1), m.group(2))] = refused.get((m.group(1), m.group(2)), 0) + int(m.group(3))
        ok = sum(sipp_counts(open(os.path.join(d, "sipp.out")).read())[0] for _, d in legit)
        failed = sum(sipp_counts(open(os.path.join(d, "sipp.out")).read())[1] for _, d in legit)
        setups = [x for _, d in legit for x in setup_times(d)]
        base_cpu = cpu_between(samples, t0 + 2, t_flood)
        flood_cpu = cpu_between(samples, t_flood + 1, t_flood_end)
        # Once the flood holds its share of max_calls (its accepted calls are never
        # ACKed, so they stay 32 s), every further INVITE of it is refused: the CPU of
        # that steady state, less the callers' own, per flood INVITE, is what a refusal
        # costs (with the 200 retransmissions of the flood's calls still held).
        steady_cpu = cpu_between(samples, t_flood + 5, t_flood_end)
        sent = int(re.search(r"sent (\d+)", flood.stdout).group(1)) if "sent" in flood.stdout else 0
        flood_refused = sum(v for (src, _), v in refused.items() if src.startswith("127.0.0.0/24") or src == "others")
        legit_refused = sum(refused.values()) - flood_refused
        per_flood_us = 1e6 * (flood_cpu - base_cpu) * (t_flood_end - t_flood) / max(1, sent)
        per_refusal_us = 1e6 * (steady_cpu - base_cpu) / flood_rate
        res = {
            "layout": layout, "w1_rate": rate, "max_call_rate": rate_limit, "flood_rate": flood_rate,
            "flood_sent": sent, "flood_refused_503": flood_refused, "flood_stdout": flood.stdout.strip(),
            "legit_rate_each": legit_rate, "legit_ok": ok, "legit_failed": failed, "legit_refused_503": legit_refused,
            "legit_answered_pct": 100 * ok / max(1, ok + failed),
            "setup_ms_p50": pct(setups, 50), "setup_ms_p99": pct(setups, 99), "setup_ms_max": max(setups) if setups else None,
            "udp_rcvbuf_drops": drops,
            "gateway_cpu_alone": base_cpu, "gateway_cpu_flood": flood_cpu,
            "gateway_cpu_flood_steady": steady_cpu,
            "cpu_us_per_flood_invite": per_flood_us, "cpu_us_per_refused_invite": per_refusal_us,
            "refusals": {f"{k[0]} {k[1]}": v for k, v in refused.items()},
        }
        print(f"  flood: {sent} INVITEs sent ({flood.stdout.strip()}), {flood_refused} answered 503 "
              f"(the rest accepted at the flood's share, or dropped at its full queue)")
        print(f"  datagrams dropped at the gateway's full socket buffer: {drops}")
        print(f"  callers: {ok} answered, {failed} failed ({res['legit_answered_pct']:.2f} % answered), "
              f"{legit_refused} refused; setup p50 {res['setup_ms_p50']:.1f} ms, p99 {res['setup_ms_p99']:.1f} ms")
        print(f"  gateway CPU {100 * base_cpu:.0f} % alone, {100 * flood_cpu:.0f} % in the flood: "
              f"{per_flood_us:.1f} µs per flood INVITE; from 5 s on (the flood holds its share of calls, "
              f"the rest refused) {100 * steady_cpu:.0f} %: {per_refusal_us:.1f} µs per refused INVITE")
        return res


def main():
    rate, source = w1_limit()
    seconds, layouts = 20, ["trunks", "networks"]
    for a in sys.argv[1:]:
        if a.startswith("--rate="):
            rate, source = int(a.split("=", 1)[1]), "--rate"
        elif a.startswith("--seconds="):
            seconds = int(a.split("=", 1)[1])
        elif a.startswith("--layout="):
            layouts = [a.split("=", 1)[1]]
        elif a == "--quick":
            rate, seconds = min(rate, 300), 5
    limit = 0 if "--no-rate-limit" in sys.argv else rate
    print(f"TDoS: W1 limit {rate} calls/s ({source or 'default; run bench/run w1 first'})")
    results = [run_layout(l, rate, seconds, limit) for l in layouts]
    print(f"\n{'layout':<9} {'flood/s':>8} {'callers/s':>9} {'answered':>9} {'setup p99':>10} {'µs/flood INVITE':>16} {'µs/refusal':>11}")
    for r in results:
        print(f"{r['layout']:<9} {r['flood_rate']:>8} {2 * r['legit_rate_each']:>9} {r['legit_answered_pct']:>8.2f}% "
              f"{r['setup_ms_p99']:>8.1f}ms {r['cpu_us_per_flood_invite']:>16.1f} {r['cpu_us_per_refused_invite']:>11.1f}")
    print(f"written {write_result('tdos', {'workload': 'tdos', 'runs': results})}")


if __name__ == "__main__":
    main()
