"""W3, full path (issue 7).

Callers dial 112, press 1 (medical) by RFC 4733 and are bridged to registered SIPp
operators who answer at once. 300 operators (department medical, wrap-up 0 s) register
with Digest (MD5) from the port of the operators' phones, one SIPp UAS answering every
INVITE at once. For each rate (20, 50, 100 calls/s, 20 s each; --quick: 20 calls/s for 5 s):

- success: calls that the caller's SIPp finished (its BYE answered) and that reached an
  operator (DB event operator_answered and the phone received the gateway's ACK), over
  calls offered;
- INVITE -> op INVITE: the caller's wall-clock time just before sending its INVITE
  (SIPp gettimeofday, logged with the Call-ID) to the phone's receipt of the gateway's
  INVITE (logged with X-CC112-Caller; the call record joins Call-ID and caller number);
- INVITE -> bridged: the same start to the phone's receipt of the gateway's ACK after
  its 200 (the bridge is in place);
- digit end -> op INVITE (external): tcpdump on lo captures the RFC 4733 packets sent to
  the gateway's RTP ports and the gateway's INVITEs to the phones; from the first end
  packet (E bit) on the caller leg's port (DB event answered, rtp_port) to the first
  INVITE carrying that caller's X-CC112-Caller, both kernel timestamps, so SIPp's own
  scheduling does not count (the JSON also has the time to the phone's SIPp logging the
  INVITE, and that SIPp's lag behind the wire);
- digit end -> op INVITE (DB): events digit -> offered, ms resolution, as a cross-check;
- gateway CPU % over the caller run, and the time its threads waited for a CPU
  (/proc schedstat: how much the shared machine held it back).

Options: --quick; --media-ports=LO-HI (default 20000-39999; other benchmarks running at
the same time take ports from the bottom of that range); --log-level=LEVEL (gateway);
--idle=SECONDS (wait after the registrations before the first call); --keep (keep the
work directory; it is also kept when a call failed).

Includes the caller's deliberate 600 ms pause after the ACK and the key press (~140 ms)
in the two INVITE-based figures.
"""
import hashlib, json, os, re, shutil, signal, sqlite3, struct, subprocess, sys, tempfile, time

from lib import BIN, ROOT, pct, proc_cpu_rss, sipp_count, start_gateway, stop_gateway, write_result

GW_PORT = 45200
CALLER_PORT, CALLER_MP = 45260, 46200
OP_PORT, OP_MP = 45270, 46300
MEDIA = (20000, 39999)  # --media-ports=LO-HI to change
OPERATORS = 300
REALM = "cc112"
BRIDGED_MS = 2500
SIPP_DIR = os.path.join(ROOT, "bench/sipp")
PCAPS = ["/usr/share/sip-tester/dtmf_2833_1.pcap", os.path.join(ROOT, "../shared/corpora/rtp/sipp_dtmf_2833_1.pcap"),
         "/work/shared/corpora/rtp/sipp_dtmf_2833_1.pcap"]


def scenario(tmp, name, **subst):
    text = open(os.path.join(SIPP_DIR, name)).read()
    for k, v in subst.items():
        text = text.replace(k, str(v))
    out = os.path.join(tmp, name)
    with open(out, "w") as f:
        f.write(text)
    return out


def operators(tmp):
    """300 operators of department medical: (config tables, [(user, password)]). HA1 MD5
    as `cc112 operator-hash` makes it (checked against the binary for the first one)."""
    ops = []
    for i in range(1, OPERATORS + 1):
        user, pw = f"op-{i:03d}", f"pw-w3-{i:03d}"
        ops.append((user, pw, hashlib.md5(f"{user}:{REALM}:{pw}".encode()).hexdigest()))
    out = subprocess.run([BIN, "operator-hash", ops[0][0], "--realm", REALM, "--password-env", "W3_PW"],
                         env={**os.environ, "W3_PW": ops[0][1]}, capture_output=True, text=True, check=True).stdout
    if f'ha1_md5 = "{ops[0][2]}"' not in out:
        sys.exit(f"HA1 MD5 differs from cc112 operator-hash:\n{out}")
    toml = ('[registrar]\nalgorithms = ["MD5", "SHA-256"]\nmax_expires = "3600s"\n'
            '[acd]\nwrap_up = "0s"\n')
    for user, _, md5 in ops:
        toml += f'[[operators]]\nid = "{user}"\nname = "{user}"\ndepartments = ["medical"]\nha1_md5 = "{md5}"\n'
    return toml, [(u, p) for u, p, _ in ops]


def sipp_common(port, mp, calls, timeout_s, log):
    return ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(port), "-mp", str(mp), "-m", str(calls),
            "-nostdin", "-timeout", f"{timeout_s}s", "-timeout_error", "-trace_logs", "-log_file", log]


def register(tmp, creds):
    """Registers every operator, 50 per SIPp call (the scenario's block repeated per
    operator; SIPp refuses scenario files over 64 KiB), one SIPp run after the other,
    each from OP_PORT: the gateway sends its INVITEs to the address a REGISTER came from
    (not to the Contact), so the phones must register from the port they answer on.
    Checks the gateway logged each one in (operator_events login)."""
    text = open(os.path.join(SIPP_DIR, "w3_register.xml")).read().replace("OP_PORT", str(OP_PORT))
    head, rest = text.split("<!-- BEGIN -->", 1)
    block, tail = rest.split("<!-- END -->", 1)
    for start in range(0, len(creds), 50):
        chunk = creds[start:start + 50]
        blocks = [block.replace("OP_USER", u).replace("OP_PASSWORD", p).replace("OP_CSEQ1", str(2 * i + 1)).replace("OP_CSEQ2", str(2 * i + 2))
                  for i, (u, p) in enumerate(chunk)]
        sf = os.path.join(tmp, f"w3_register_{start}.xml")
        with open(sf, "w") as f:
            f.write(head + "".join(blocks) + tail)
        args = ["sipp", f"127.0.0.1:{GW_PORT}", "-sf", sf] + sipp_common(OP_PORT, OP_MP, 1, 60, os.path.join(tmp, f"register_{start}.log"))
        r = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0 or sipp_count(r.stdout, "Successful call") != 1:
            sys.exit(f"registration of {chunk[0][0]}..{chunk[-1][0]} failed (SIPp exit {r.returncode}); see {tmp}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    db = sqlite3.connect(f"file:{os.path.join(tmp, 'data/cc112.db')}?mode=ro", uri=True)
    for _ in range(50):
        n = db.execute("SELECT COUNT(DISTINCT operator_id) FROM operator_events WHERE kind = 'login'").fetchone()[0]
        if n == len(creds):
            break
        time.sleep(0.1)
    db.close()
    if n != len(creds):
        sys.exit(f"registration: SIPp done but {n}/{len(creds)} operator logins recorded; see {tmp}")
    return n


def read_log(path, tag):
    """Lines `TAG <s> <us> rest...` of a SIPp -trace_logs file: [(time, rest)]."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path, errors="replace"):
        parts = line.split()
        if len(parts) >= 4 and parts[0] == tag:
            try:
                out.append((int(float(parts[1])) + float(parts[2]) / 1e6, parts[3:]))
            except ValueError:
                pass
    return out


def udp_ports_held(lo, hi):
    """UDP ports in [lo, hi] bound by any process (another benchmark's gateway takes its
    media ports from the bottom of the same default range)."""
    held = set()
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            for line in open(name).readlines()[1:]:
                port = int(line.split()[1].rsplit(":", 1)[1], 16)
                if lo <= port <= hi:
                    held.add(port)
        except OSError:
            pass
    return held


def start_tcpdump(tmp):
    """Captures on lo the RFC 4733 packets (payload type 101) sent to the gateway's RTP
    ports and the gateway's INVITEs to the operators' phones; None when tcpdump is
    missing or cannot capture."""
    if not shutil.which("tcpdump"):
        return None, None
    path = os.path.join(tmp, "rtp.pcap")
    err = open(os.path.join(tmp, "tcpdump.err"), "w")
    flt = (f"(udp and dst portrange {MEDIA[0]}-{MEDIA[1]} and (udp[9] & 0x7f) = 101) or "
           f"(udp and src port {GW_PORT} and dst port {OP_PORT} and udp[8:4] = 0x494e5649)")  # "INVI"
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "-s", "2048", "-B", "8192", "-w", path, flt],
                         stdout=subprocess.DEVNULL, stderr=err)
    for _ in range(50):
        time.sleep(0.1)
        if p.poll() is not None:
            return None, None
        if "listening on" in open(os.path.join(tmp, "tcpdump.err")).read():
            return p, path
    return p, path


def read_pcap(path):
    """From the capture: RFC 4733 end packets {dst_port: [time, ...]}, the gateway's
    INVITEs to the phones {X-CC112-Caller: [time, ...]} (retransmissions included), and
    the count of RFC 4733 packets."""
    ends, invites, n = {}, {}, 0
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return ends, invites, n
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0, 12: 0}.get(linktype)
    if l2 is None:
        raise ValueError(f"pcap link type {linktype}")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        ip = pkt[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 15) * 4:]
        if len(udp) < 8 + 16:
            continue
        dport = struct.unpack("!H", udp[2:4])[0]
        payload = udp[8:]
        if payload.startswith(b"INVITE "):
            m = re.search(rb"\r\nX-CC112-Caller:\s*([^\r\s]+)", payload)
            if m:
                invites.setdefault(m.group(1).decode(errors="replace"), []).append(t)
            continue
        if payload[1] & 0x7F != 101:
            continue
        n += 1
        body = payload[12 + 4 * (payload[0] & 15):]
        if len(body) >= 4 and body[1] & 0x80:
            ends.setdefault(dport, []).append(t)
    return ends, invites, n


def runqueue_wait_s(pid):
    """Time the gateway's threads spent runnable but waiting for a CPU (summed
    /proc/<pid>/task/*/schedstat): how much the busy machine held the gateway back."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    return total / 1e9


def run_rate(tmp, gw, rate, seconds, caller_sf, op_sf):
    calls = int(rate * seconds)
    caller_log, op_log = os.path.join(tmp, f"caller-{rate}.log"), os.path.join(tmp, f"operator-{rate}.log")
    op_out = open(os.path.join(tmp, f"operator-{rate}.out"), "w")
    op = subprocess.Popen(["sipp", "-sf", op_sf, "-rtp_echo"] + sipp_common(OP_PORT, OP_MP, calls, seconds + 70, op_log),
                          cwd=tmp, stdout=op_out, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    limit = max(100, int(rate * (0.6 + BRIDGED_MS / 1000 + 3)))
    args = ["sipp", f"127.0.0.1:{GW_PORT}", "-sf", caller_sf, "-key", "ruri", f"sip:112@127.0.0.1:{GW_PORT}",
            "-r", str(rate), "-l", str(limit)] + sipp_common(CALLER_PORT, CALLER_MP, calls, seconds + 60, caller_log)
    cpu0, _ = proc_cpu_rss(gw.pid)
    wait0 = runqueue_wait_s(gw.pid)
    t0 = time.time()
    r = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0
    cpu1, rss = proc_cpu_rss(gw.pid)
    wait1 = runqueue_wait_s(gw.pid)
    with open(os.path.join(tmp, f"caller-{rate}.out"), "w") as f:
        f.write(r.stdout + r.stderr)
    try:
        op.wait(timeout=15)
    except subprocess.TimeoutExpired:
        op.send_signal(signal.SIGUSR1)  # SIPp: stop, writing its logs
        try:
            op.wait(timeout=10)
        except subprocess.TimeoutExpired:
            op.kill()
            op.wait()
    op_out.close()
    # The phones' SIPp counts INVITEs received again for a call (the gateway's
    # retransmissions, or duplicates) in the Retrans column of its last screen.
    retrans = 0
    for line in open(os.path.join(tmp, f"operator-{rate}.out"), errors="replace"):
        m = re.match(r"\s*----------> INVITE\s+(\d+)\s+(\d+)", line)
        if m:
            retrans = int(m.group(2))
    return {"rate": rate, "offered": calls, "caller_sipp_ok": sipp_count(r.stdout, "Successful call"),
            "caller_sipp_failed": sipp_count(r.stdout, "Failed call"), "caller_exit": r.returncode, "operator_exit": op.returncode,
            "op_invite_retrans": retrans,
            "wall_s": wall, "cpu_pct": 100.0 * (cpu1 - cpu0) / wall,
            "runqueue_wait_ms_per_s": 1000.0 * (wait1 - wait0) / wall, "loadavg_after": open("/proc/loadavg").read().split()[:3], "rss_mb": rss / 1e6,
            "caller_log": caller_log, "op_log": op_log}


def analyse(db, run, ends, wire_invites):
    """Joins the caller's and the phone's logs through the call records; fills `run` with
    counts and percentiles (ms). The phone's INVITE is matched by X-CC112-Caller: the
    caller's number 08123<SIPp call number>, unique within one caller run, = calls.caller
    (X-CC112-Call, the record's id, would do as well)."""
    inv = {rest[0]: t for t, rest in read_log(run["caller_log"], "INVITE")}
    done = {line.split()[1] for line in open(run["caller_log"], errors="replace") if line.startswith("DONE ")}
    op_inv, op_leg = {}, {}
    for t, rest in read_log(run["op_log"], "OPINV"):
        m = re.search(r"X-CC112-Caller:\s*(\S+)", " ".join(rest[1:]))
        if m:
            op_inv.setdefault(m.group(1), t)
            op_leg[rest[0]] = m.group(1)
    op_ack = {}
    for t, rest in read_log(run["op_log"], "OPACK"):
        if rest[0] in op_leg:
            op_ack.setdefault(op_leg[rest[0]], t)
    lat_inv, lat_bridge, ext, ext_rx, dbl, lag = [], [], [], [], [], []
    reached = success = 0
    no_end = 0
    outcomes = {}
    for sip_id, t_inv in inv.items():
        row = db.execute("SELECT id, caller, outcome FROM calls WHERE sip_call_id = ?", (sip_id,)).fetchone()
        if row is None:
            outcomes["no record"] = outcomes.get("no record", 0) + 1
            continue
        cid, caller, outcome = row
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        ev = {}
        for kind, at, details in db.execute("SELECT kind, at, details FROM call_events WHERE call_id = ? ORDER BY seq", (cid,)):
            ev.setdefault(kind, (at, details))
        answered = "operator_answered" in ev and caller in op_ack
        reached += answered
        success += answered and sip_id in done
        if caller in op_inv:
            lat_inv.append(1000 * (op_inv[caller] - t_inv))
        if caller in op_ack:
            lat_bridge.append(1000 * (op_ack[caller] - t_inv))
        if "digit" in ev and "offered" in ev:
            dbl.append(ev["offered"][0] - ev["digit"][0])
        if ends is not None and caller in op_inv and "answered" in ev:
            port = json.loads(ev["answered"][1] or "{}").get("rtp_port")
            hit = [t for t in ends.get(port, []) if t_inv <= t <= op_inv[caller] + 1.0]
            wire = [t for t in wire_invites.get(caller, []) if t_inv <= t <= op_inv[caller] + 1.0]
            if hit and wire:
                ext.append(1000 * (wire[0] - hit[0]))
                ext_rx.append(1000 * (op_inv[caller] - hit[0]))
                lag.append(1000 * (op_inv[caller] - wire[0]))
            else:
                no_end += 1
    run.update({
        "outcomes": outcomes, "caller_done": len(done), "op_invites": len(op_inv), "op_acks": len(op_ack), "reached_operator": reached,
        "success": success, "success_pct": 100.0 * success / max(1, run["offered"]),
        "invite_to_op_invite_ms": {"p50": pct(lat_inv, 50), "p99": pct(lat_inv, 99), "n": len(lat_inv)},
        "invite_to_bridged_ms": {"p50": pct(lat_bridge, 50), "p99": pct(lat_bridge, 99), "n": len(lat_bridge)},
        "digit_end_to_op_invite_ms_external": None if ends is None else
        {"p50": pct(ext, 50), "p99": pct(ext, 99), "max": max(ext) if ext else float("nan"), "n": len(ext), "calls_not_in_capture": no_end},
        "digit_end_to_op_invite_receipt_ms": None if ends is None else
        {"p50": pct(ext_rx, 50), "p99": pct(ext_rx, 99), "max": max(ext_rx) if ext_rx else float("nan"), "n": len(ext_rx)},
        "phone_sipp_lag_ms": None if ends is None else {"p50": pct(lag, 50), "p99": pct(lag, 99), "max": max(lag) if lag else float("nan")},
        "digit_to_offered_ms_db": {"p50": pct(dbl, 50), "p99": pct(dbl, 99), "max": max(dbl) if dbl else float("nan"), "n": len(dbl)},
    })
    for k in ("caller_log", "op_log"):
        run.pop(k)
    return run


def fmt(x):
    return f"{x:8.2f}" if x == x else f"{'-':>8}"


def main():
    global MEDIA
    log_level = "warn"
    idle = 0.0
    quick = "--quick" in sys.argv
    keep = "--keep" in sys.argv
    for a in sys.argv[1:]:
        if a.startswith("--idle="):
            idle = float(a.split("=", 1)[1])
        if a.startswith("--log-level="):
            log_level = a.split("=", 1)[1]
        if a.startswith("--media-ports="):
            lo, hi = a.split("=", 1)[1].split("-")
            MEDIA = (int(lo), int(hi))
    rates = [20] if quick else [20, 50, 100]
    seconds = 5 if quick else 20
    pcap = next((p for p in PCAPS if os.path.exists(p)), None)
    if pcap is None:
        sys.exit("no RFC 4733 recording of '1': apt-get install -y sip-tester")
    pcap = os.path.abspath(pcap)
    held = udp_ports_held(*MEDIA)
    if held:
        print(f"warning: {len(held)} UDP ports of the media range {MEDIA[0]}-{MEDIA[1]} are held by other processes "
              f"(another benchmark?); the gateway tries only 8 ports per call, so expect 503 'no media port' "
              f"failures, or pass --media-ports=LO-HI")
    tmp = tempfile.mkdtemp(prefix="cc112-w3-")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"W3 full path: {OPERATORS} SIPp operators (MD5 Digest, answer at once), callers press 1 by RFC 4733, "
          f"{BRIDGED_MS} ms after the key, BYE; {seconds} s per rate (release build, SIPp on the same host, load {' '.join(load)})")
    print(f"work dir {tmp}; gateway media ports {MEDIA[0]}-{MEDIA[1]}")
    toml, creds = operators(tmp)
    gw = start_gateway(tmp, GW_PORT, toml, log_level=log_level, media_ports=MEDIA)
    cap = path = None
    runs = []
    failed = False
    try:
        register(tmp, creds)
        print(f"{OPERATORS} operators registered")
        if idle:
            print(f"idle {idle:g} s before the first call")
            time.sleep(idle)
        cap, path = start_tcpdump(tmp)
        if cap is None:
            print("tcpdump unavailable: digit end -> op INVITE from the DB only")
        caller_sf = scenario(tmp, "w3_caller.xml", PCAP_FILE=pcap, BRIDGED_MS=BRIDGED_MS)
        op_sf = scenario(tmp, "w3_operator.xml")
        for rate in rates:
            runs.append(run_rate(tmp, gw, rate, seconds, caller_sf, op_sf))
            time.sleep(2)
    finally:
        if cap is not None:
            time.sleep(0.5)
            cap.terminate()
            cap.wait()
        stop_gateway(gw)
    ends, wire_invites = None, {}
    if path is not None:
        ends, wire_invites, npk = read_pcap(path)
        print(f"tcpdump: {npk} RFC 4733 packets to the gateway (end packets on {len(ends)} ports), "
              f"{sum(map(len, wire_invites.values()))} INVITEs to the phones")
    db = sqlite3.connect(f"file:{os.path.join(tmp, 'data/cc112.db')}?mode=ro", uri=True)
    print("latencies in ms; INVITE-based figures include the caller's 600 ms pause after the ACK and the ~140 ms key press")
    print(f"{'cps':>4} {'offered':>7} {'ok':>6} {'succ%':>6} | {'INV->opINV':^17} | {'INV->bridged':^17} | "
          f"{'digit end->opINV':^17} | {'digit->offered DB':^17} | {'gw cpu%':>7}")
    print(f"{'':>4} {'':>7} {'':>6} {'':>6} | {'p50':>8} {'p99':>8} | {'p50':>8} {'p99':>8} | {'p50':>8} {'p99':>8} | {'p50':>8} {'p99':>8} |")
    for run in runs:
        analyse(db, run, ends, wire_invites)
        e = run["digit_end_to_op_invite_ms_external"] or {"p50": float("nan"), "p99": float("nan")}
        d = run["digit_to_offered_ms_db"]
        print(f"{run['rate']:>4} {run['offered']:>7} {run['success']:>6} {run['success_pct']:>6.1f} | "
              f"{fmt(run['invite_to_op_invite_ms']['p50'])} {fmt(run['invite_to_op_invite_ms']['p99'])} | "
              f"{fmt(run['invite_to_bridged_ms']['p50'])} {fmt(run['invite_to_bridged_ms']['p99'])} | "
              f"{fmt(e['p50'])} {fmt(e['p99'])} | {fmt(d['p50'])} {fmt(d['p99'])} | {run['cpu_pct']:>7.1f}", flush=True)
        print(f"     caller SIPp ok {run['caller_sipp_ok']} failed {run['caller_sipp_failed']} (exit {run['caller_exit']}); "
              f"operator INVITEs {run['op_invites']} (+{run['op_invite_retrans']} received again), ACKs {run['op_acks']}; "
              f"reached an operator (DB) {run['reached_operator']}; outcomes {run['outcomes']}"
              + (f"; {e['calls_not_in_capture']} calls without a captured end packet or INVITE" if e.get("calls_not_in_capture") else ""))
        if run["phone_sipp_lag_ms"]:
            lag = run["phone_sipp_lag_ms"]
            print(f"     the phones' SIPp logged the INVITE p50 {lag['p50']:.2f} / p99 {lag['p99']:.2f} / max {lag['max']:.2f} ms after it was on the wire")
        print(f"     gateway threads waited {run['runqueue_wait_ms_per_s']:.1f} ms per second for a CPU; load average after {' '.join(run['loadavg_after'])}")
        failed |= run["success"] != run["offered"]
    db.close()
    res = {"workload": "W3", "seconds_per_rate": seconds, "operators": OPERATORS, "bridged_ms": BRIDGED_MS,
           "loadavg_at_start": load, "media_ports": list(MEDIA), "external_digit_timing": ends is not None, "rows": runs}
    print(f"written {write_result('w3', res)}")
    if keep or failed:
        print(f"kept {tmp} (gw.log, SIPp logs, rtp.pcap, data/cc112.db)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
