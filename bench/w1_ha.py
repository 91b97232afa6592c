"""W1 through Kamailio (issue 18): the call setup workload of W1 (INVITE -> 200 -> ACK ->
1 s -> BYE, bench/w1.py) at one rate, one node direct versus Kamailio
(deploy/kamailio/kamailio.cfg, 127.0.0.1) in front of two nodes (127.0.0.2 takes the
calls, 127.0.0.3 stands by), alternating, --rounds=N of each (default 3), --rate=R calls/s
(default 300), --seconds=S per run (default 10), --kam-mem=MB Kamailio's shared memory
(default 512: at 128 MB, 1,000 calls/s ran it out of memory and it refused 16 % of the
calls with 500). Prints calls ok/failed, setup p50/p99
(INVITE to 200 as SIPp measures it), the CPU ms per call of the node(s) and of Kamailio
(all its processes), and the medians over the rounds.
"""
import os, statistics, subprocess, sys, tempfile, time

from lib import BIN, ROOT, proc_cpu_rss, sipp_run, pct, write_result

PORT = 45400  # the direct node, or Kamailio
NODE_PORT = 45410


def arg(name, default):
    return next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith(f"--{name}=")), default)


def node(tmp, name, ip, port, media, secret):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    link = os.path.join(d, "prompts")
    if not os.path.exists(link):
        os.symlink(os.path.join(ROOT, "config/prompts"), link)
    cfg = os.path.join(d, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f'[sip]\nlisten_udp = ["{ip}:{port}"]\nlisten_tcp = []\ntrusted_proxies = ["127.0.0.1"]\n'
                f'[media]\naddress = "{ip}"\nport_min = {media}\nport_max = {media + 9999}\n'
                f'[registrar]\nnonce_secret_file = "{secret}"\n[http]\nlisten = []\n')
    log = open(os.path.join(d, "gw.log"), "a")
    p = subprocess.Popen([BIN, "--log-level", "warn", "run", "--config", cfg], stdout=log, stderr=log, cwd=d)
    time.sleep(0.5)
    if p.poll() is not None:
        sys.exit(f"node {name} exited at start; see {d}/gw.log")
    return p


def kamailio(tmp, nodes):
    d = os.path.join(tmp, "kamailio")
    os.makedirs(d, exist_ok=True)
    lst = os.path.join(d, "dispatcher.list")
    with open(lst, "w") as f:
        for i, n in enumerate(nodes):
            f.write(f"1 sip:{n} 0 {10 - 5 * i}\n")
    log = open(os.path.join(d, "kamailio.log"), "a")
    p = subprocess.Popen(["kamailio", "-DD", "-E", "-f", os.path.join(ROOT, "deploy/kamailio/kamailio.cfg"), "-Y", d,
                          "-P", os.path.join(d, "kamailio.pid"), "-m", str(arg("kam-mem", 512)), "-A", f"LISTEN=udp:127.0.0.1:{PORT}",
                          "-A", f'DS_LIST="{lst}"'], stdout=log, stderr=log)
    time.sleep(3)  # its first OPTIONS probes
    return p


def tree_cpu(pid):
    """CPU seconds of a process and its children (Kamailio forks its workers)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(name) == pid or int(parts[1]) == pid:
            total += proc_cpu_rss(int(name))[0]
    return total


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_direct(tmp, rate, seconds, secret):
    gw = node(tmp, "direct", "127.0.0.1", PORT, 20000, secret)
    time.sleep(3)  # the same warm-up as the nodes get while Kamailio starts probing
    try:
        c0 = proc_cpu_rss(gw.pid)[0]
        r = sipp_run(PORT, rate, seconds, 1000, tmp, "direct")
        node_cpu = proc_cpu_rss(gw.pid)[0] - c0
    finally:
        stop(gw)
    return row("direct", r, node_cpu, 0.0)


def run_ha(tmp, rate, seconds, secret):
    a = node(tmp, "a", "127.0.0.2", NODE_PORT, 20000, secret)
    b = node(tmp, "b", "127.0.0.3", NODE_PORT + 1, 30000, secret)
    k = kamailio(tmp, [f"127.0.0.2:{NODE_PORT}", f"127.0.0.3:{NODE_PORT + 1}"])
    try:
        n0 = proc_cpu_rss(a.pid)[0] + proc_cpu_rss(b.pid)[0]
        k0 = tree_cpu(k.pid)
        r = sipp_run(PORT, rate, seconds, 1000, tmp, "ha")
        node_cpu = proc_cpu_rss(a.pid)[0] + proc_cpu_rss(b.pid)[0] - n0
        kam_cpu = tree_cpu(k.pid) - k0
    finally:
        for p in (k, a, b):
            stop(p)
    return row("kamailio+2", r, node_cpu, kam_cpu)


def row(mode, r, node_cpu, kam_cpu):
    ok = max(1, r["ok"])
    return {"mode": mode, "calls": r["offered"], "ok": r["ok"], "failed": r["failed"],
            "cps": r["ok"] / r["wall_s"] if r["wall_s"] else 0.0,
            "setup_p50_ms": pct(r["rtd_ms"], 50), "setup_p99_ms": pct(r["rtd_ms"], 99),
            "node_ms_per_call": 1000.0 * node_cpu / ok, "kamailio_ms_per_call": 1000.0 * kam_cpu / ok}


def main():
    rate, seconds, rounds = arg("rate", 300), arg("seconds", 10), arg("rounds", 3)
    if "--quick" in sys.argv:
        rate, seconds, rounds = 100, 5, 1
    print(f"W1 through Kamailio: {rate} calls/s for {seconds} s, 1 s calls; direct and kamailio+2 alternating, {rounds} rounds")
    print(f"{'mode':>11} {'calls':>6} {'ok':>6} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} {'node ms/call':>12} {'kam ms/call':>11}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        secret = os.path.join(tmp, "nonce.key")
        with open(secret, "wb") as f:
            f.write(os.urandom(32))
        for i in range(rounds):
            for run in (run_direct, run_ha) if i % 2 == 0 else (run_ha, run_direct):
                r = run(tmp, rate, seconds, secret)
                rows.append(r)
                print(f"{r['mode']:>11} {r['calls']:>6} {r['ok']:>6} {r['failed']:>6} {r['setup_p50_ms']:>7.2f} {r['setup_p99_ms']:>7.2f} "
                      f"{r['node_ms_per_call']:>12.3f} {r['kamailio_ms_per_call']:>11.3f}", flush=True)
                time.sleep(2)
    med = {}
    for mode in ("direct", "kamailio+2"):
        rs = [r for r in rows if r["mode"] == mode]
        med[mode] = {k: statistics.median(r[k] for r in rs) for k in ("ok", "failed", "setup_p50_ms", "setup_p99_ms", "node_ms_per_call", "kamailio_ms_per_call")}
        m = med[mode]
        print(f"median {mode:>11}: ok {m['ok']:.0f}, failed {m['failed']:.0f}, setup p50 {m['setup_p50_ms']:.2f} ms, p99 {m['setup_p99_ms']:.2f} ms, "
              f"node {m['node_ms_per_call']:.3f} ms CPU/call, kamailio {m['kamailio_ms_per_call']:.3f} ms CPU/call")
    res = {"workload": "W1-HA", "rate": rate, "seconds": seconds, "rounds": rounds, "rows": rows, "medians": med}
    print(f"written {write_result('w1_ha', res)}")


if __name__ == "__main__":
    main()
