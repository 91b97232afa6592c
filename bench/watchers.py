"""Wallboards and a Prometheus scraper against the gateway's HTTP server (issue 15), as a
load generator for `bench/w1_watched.py`: Python stdlib only, threads and sockets.

Each wallboard is one server-sent-events connection to `events_path`, read for as long
as the watchers run (reconnecting if the server closes it), plus a poll of `board_path`
every `board_every` seconds: the wallboard page's refetch of its board state. Until
`/api/v1/wallboard` exists the default is `/api/v1/status` every 0.5 s, a deliberate
worst case (the page refetches at most that often). One scraper GETs `/metrics` every
`metrics_every` seconds. Everything carries a viewer token.

The watchers' threads run 10 nice levels below the caller (`os.setpriority` on each
thread's id): wallboards and Prometheus run on other machines, so on this shared 2-core
machine their Python must not take the gateway's CPU (as SIPp runs above it, see
`LOADGEN` in lib.py). What they used is reported (`cpu_s`), so it can be weighed.

Bounded: every thread stops at `stop()` or at `max_seconds`, whichever comes first;
sockets have timeouts, so a stuck server cannot hold a thread. `stop()` joins them and
returns what they got (events and bytes read, requests answered per status, latency
percentiles), so a run can prove the watchers were really working.
"""
import http.client, os, socket, threading, time


def _pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class Watchers:
    def __init__(self, host, port, token, wallboards=20, board_path="/api/v1/status", board_every=0.5,
                 events_path="/api/v1/events", metrics_path="/metrics", metrics_every=1.0, max_seconds=900):
        self.host, self.port, self.token = host, port, token
        self.n, self.board_path, self.board_every = wallboards, board_path, board_every
        self.events_path, self.metrics_path, self.metrics_every = events_path, metrics_path, metrics_every
        self.deadline = time.monotonic() + max_seconds
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = []
        self.stats = {"sse_status": {}, "sse_connects": 0, "events": 0, "sse_bytes": 0,
                      "board_status": {}, "board_ms": [], "metrics_status": {}, "metrics_ms": [], "metrics_bytes": 0, "errors": 0}

    def _lower(self, target, *args):
        """Runs `target` in a thread 10 nice levels below its parent (best effort)."""
        def run():
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
            except OSError:
                pass
            target(*args)
        return threading.Thread(target=run, daemon=True)

    def _done(self):
        return self.stopping.is_set() or time.monotonic() > self.deadline

    def _count(self, key, status):
        with self.lock:
            d = self.stats[key]
            d[str(status)] = d.get(str(status), 0) + 1

    def _error(self):
        with self.lock:
            self.stats["errors"] += 1

    def _sse(self):
        """One wallboard's event stream, read continuously; reconnects after 1 s."""
        while not self._done():
            try:
                s = socket.create_connection((self.host, self.port), timeout=2)
            except OSError:
                self._error()
                self.stopping.wait(1)
                continue
            try:
                s.settimeout(1)
                s.sendall((f"GET {self.events_path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
                           f"Authorization: Bearer {self.token}\r\n\r\n").encode())
                buf, status = b"", None
                with self.lock:
                    self.stats["sse_connects"] += 1
                while not self._done():
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    with self.lock:
                        self.stats["sse_bytes"] += len(chunk)
                    buf += chunk
                    if status is None and b"\r\n" in buf:
                        line = buf.split(b"\r\n", 1)[0].split()
                        status = int(line[1]) if len(line) > 1 and line[1].isdigit() else 0
                        self._count("sse_status", status)
                        if status != 200:
                            break
                    # An event ends with a blank line; keep only the unfinished tail.
                    n = buf.count(b"\n\n")
                    if n:
                        with self.lock:
                            self.stats["events"] += n
                        buf = buf.rsplit(b"\n\n", 1)[1]
                    if len(buf) > 1 << 20:
                        buf = b""
            except OSError:
                self._error()
            finally:
                s.close()
            self.stopping.wait(1)

    def _poll(self, path, every, status_key, ms_key, bytes_key=None, token=True):
        """GETs `path` every `every` seconds on a kept-alive connection."""
        conn = None
        next_at = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        while not self._done():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                t = time.monotonic()
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
                ms = 1000 * (time.monotonic() - t)
                self._count(status_key, r.status)
                with self.lock:
                    self.stats[ms_key].append(ms)
                    if bytes_key:
                        self.stats[bytes_key] += len(body)
            except (OSError, http.client.HTTPException):
                self._error()
                if conn is not None:
                    conn.close()
                conn = None
            next_at += every
            self.stopping.wait(max(0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def start(self):
        self.cpu0 = time.process_time()
        for _ in range(self.n):
            self.threads.append(self._lower(self._sse))
            self.threads.append(self._lower(self._poll, self.board_path, self.board_every, "board_status", "board_ms"))
        self.threads.append(self._lower(self._poll, self.metrics_path, self.metrics_every, "metrics_status", "metrics_ms", "metrics_bytes", False))
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        """Stops and joins every thread; returns a summary of what they got."""
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=10)
        alive = sum(t.is_alive() for t in self.threads)
        cpu = time.process_time() - self.cpu0
        with self.lock:
            s = dict(self.stats)
        return {
            "wallboards": self.n, "board_path": self.board_path, "events_path": self.events_path,
            "threads_left": alive, "cpu_s": round(cpu, 1), "sse_status": s["sse_status"], "sse_connects": s["sse_connects"],
            "events": s["events"], "sse_bytes": s["sse_bytes"],
            "board_status": s["board_status"], "board_p50_ms": _pct(s["board_ms"], 50), "board_p99_ms": _pct(s["board_ms"], 99),
            "metrics_status": s["metrics_status"], "metrics_bytes": s["metrics_bytes"],
            "metrics_p50_ms": _pct(s["metrics_ms"], 50), "metrics_p99_ms": _pct(s["metrics_ms"], 99), "errors": s["errors"],
        }
