"""Our embedding server under abuse, beside normal load: huge and slow headers, idle and trickling connections,
clients that leave mid-body, oversized and odd requests.

    python tools/serve_faults.py [--faults big-header,idle,...] [--clients 8] [--duration 15] [--quick]
                                 [--baseline REV] [--out results/cpu/serve_faults.json]

The server (`transformer-opt serve` on the engine folder of tools/serve_bench.py, built when missing) is started once
on a free 127.0.0.1 port. Then one phase per abuse, in turn: for `--duration` seconds, `--clients` normal clients
(closed loop, one corpus text per request on /v1/embeddings, tools/loadtest.py) run while the abuse runs; all along,
the server's RSS and open file descriptors are sampled every 0.25 s, and GET /health every 0.5 s (a failure: no 200
within 1 s). A phase "none" (normal load only) comes first, for reference. The abuses (`--faults`, default all):

  big-header       4 connections each send a request line, then a header that never ends: up to 64 MiB, 64 KiB at a
                   time as fast as the server reads; stop when the server answers or closes
  idle             300 connections that send nothing and 50 that send half a request line, held to the phase's end
  trickle-head     20 connections that send a valid request's headers one byte every 2 s
  trickle-body     10 POST /v1/embeddings whose 25-byte body comes one byte every 0.4 s (10 s; the phase lasts at
                   least 13 s)
  disconnect-body  50 times: Content-Length 100000, 1000 bytes of body, close; /metrics' request and failure counters
                   before and after
  large-request    one client sending 1024 texts per request on /embed in a loop (waiting out a refusal's Retry-After)
  surrogate        the JSON escape "a\\ud800b" (a lone surrogate) as a text on /embed, /v1/embeddings and /tokenize
  tokenize-flood   4 concurrent POST /tokenize of ~7.8 MiB each (within the limits in the server's /info), in a loop

Between phases the server is given up to 30 s to settle (healthy and quiet), and restarted if it died. `--baseline
REV` runs the whole series against the same server from that git revision's code too (a temporary git worktree),
so before and after are measured in one run. The JSON (`--out`) is written after every phase; a table is printed at
the end. Loopback only; every loop is bounded in connections, bytes and time. Run with the project's venv:
`.venv/bin/python tools/serve_faults.py --quick --out /tmp/faults.json`.
"""
import argparse, asyncio, collections, contextlib, datetime, json, os, sys, tempfile, time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadtest, serve_bench  # noqa: E402  (sibling files, not a package)

FAULTS = ("big-header", "idle", "trickle-head", "trickle-body", "disconnect-body", "large-request", "surrogate",
          "tokenize-flood")
MiB = 2**20
SAMPLE_EVERY_S, HEALTH_EVERY_S, HEALTH_TIMEOUT_S = 0.25, 0.5, 1.0
GRACE_S = 5.0  # past a phase's end: the abusers' requests time out then, and the normal clients' last answers end
CUT_S = GRACE_S + 2.0  # past a phase's end: an abuse still running then is cancelled (its record kept: 'overran')
SETTLE_S = 30.0  # between phases: the longest wait for the server to be healthy and quiet again
BODY_25 = b'{"input":"hello world!!"}'  # 25 bytes of valid JSON for /v1/embeddings
assert len(BODY_25) == 25
PAGE = os.sysconf("SC_PAGE_SIZE")


def post_head(path: str, length: int) -> bytes:
    "The head of a POST with a JSON body of `length` bytes."
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def stats(values, digits: int = 3) -> dict | None:
    "min, median and max of some numbers (None when there are none)."
    v = sorted(values)
    if not v: return None
    return {"min": round(v[0], digits), "p50": round(loadtest.percentile(v, 50), digits), "max": round(v[-1], digits)}


# ---------------------------------------------------------------- the server

class Server:
    "One server (ours, or ours@REV), started through serve_bench, restarted when it died."
    def __init__(self, name: str, a, log_dir: Path):
        self.name, self.a, self.log_dir, self.proc, self.spec, self.restarts = name, a, log_dir, None, None, 0

    def start(self) -> float:
        "Start it and wait until it is healthy; the seconds that took."
        self.proc, self.spec, ready_s = serve_bench.start(self.name, self.a, self.log_dir)
        for url in (self.spec["url"], self.spec["health"]): loadtest.check_url(url)
        return ready_s

    def stop(self) -> dict: return serve_bench.stop(self.proc)

    def restart(self) -> float:
        self.stop(); self.restarts += 1
        return self.start()

    @property
    def pid(self) -> int: return self.proc.pid

    @property
    def port(self) -> int: return int(self.spec["base"].rsplit(":", 1)[1])

    def alive(self) -> bool: return self.proc.poll() is None

    def get_json(self, path: str) -> dict:
        status, body = serve_bench.http_get(self.spec["base"] + path, timeout=5.0)
        try: return json.loads(body) if status == 200 else {}
        except ValueError: return {}


def rss_mib(pids) -> float:
    "Resident memory of these processes, MiB, from /proc/PID/statm."
    total = 0
    for p in pids:
        try: total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError): pass
    return round(total * PAGE / MiB, 1)


def open_fds(pids) -> int:
    "Open file descriptors of these processes, from /proc/PID/fd."
    n = 0
    for p in pids:
        try: n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError: pass
    return n


async def sample_server(pid: int, stop: asyncio.Event, out: dict):
    "Every 0.25 s until `stop`: the server's RSS and open fds, and how late this loop woke (the client's own lag)."
    pids = serve_bench.process_tree(pid)  # once: a server does not fork per phase, and /proc walks cost CPU here
    while not stop.is_set() and len(out["rss"]) < 100_000:
        out["rss"].append(rss_mib(pids)); out["fds"].append(open_fds(pids))
        t = time.monotonic()
        await asyncio.sleep(SAMPLE_EVERY_S)
        out["lag_ms"].append(max(0.0, time.monotonic() - t - SAMPLE_EVERY_S) * 1000)


async def probe_health(url: str, stop: asyncio.Event, out: list):
    "Every 0.5 s until `stop`: GET /health on a fresh connection, 1 s to answer; (latency ms, outcome) each."
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        while not stop.is_set() and len(out) < 100_000:
            t = time.monotonic()
            try:
                async with s.get(url, timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)) as r:
                    await r.read(); outcome = str(r.status)
            except asyncio.TimeoutError: outcome = "timeout"
            except (aiohttp.ClientError, OSError) as e: outcome = type(e).__name__
            out.append(((time.monotonic() - t) * 1000, outcome))
            await asyncio.sleep(max(0.0, t + HEALTH_EVERY_S - time.monotonic()))


def settle(srv: Server) -> dict:
    "After a phase: wait (up to 30 s) until the server is healthy and quiet (< 25% of a core), restart it if it died."
    t0 = time.monotonic()
    while time.monotonic() - t0 < SETTLE_S and srv.alive():
        cpu0 = serve_bench.tree_cpu_s(srv.pid)
        status = serve_bench.http_get(srv.spec["health"], timeout=1.0)[0]
        time.sleep(0.5)
        busy = (serve_bench.tree_cpu_s(srv.pid) - cpu0) / 0.5
        if status == 200 and busy < 0.25:
            return {"settled_s": round(time.monotonic() - t0, 1), "restarted": False}
    alive, healthy = srv.alive(), srv.alive() and serve_bench.http_get(srv.spec["health"], timeout=1.0)[0] == 200
    if healthy: return {"settled_s": None, "still_busy": True, "restarted": False}
    why = "died" if not alive else "unhealthy"
    print(f"[{srv.name}] the server {why} (exit code {srv.proc.returncode}): restarting", flush=True)
    return {"restarted": True, "why": why, "returncode": srv.proc.returncode, "startup_s": round(srv.restart(), 1)}


# ---------------------------------------------------------------- raw connections

class Conn:
    "A raw TCP connection to the server: what was sent, what it answered (first line), whether and when it closed."
    def __init__(self, port: int):
        self.port, self.reader, self.writer, self.watcher = port, None, None, None
        self.t0 = self.answered_s = self.closed_s = self.closed_how = self.status = self.error = None
        self.sent = self.received = 0
        self.first_line, self.outcome = b"", None

    def elapsed(self) -> float: return round(time.monotonic() - self.t0, 3)

    @property
    def closed(self) -> bool: return self.closed_s is not None

    @property
    def settled(self) -> bool: return self.closed or self.answered_s is not None

    async def open(self, timeout: float = 5.0) -> bool:
        self.t0 = time.monotonic()
        try: self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), timeout)
        except (OSError, asyncio.TimeoutError) as e: self.error = f"connect: {type(e).__name__}"; return False
        self.watcher = asyncio.ensure_future(self._watch())
        return True

    async def _watch(self):
        "Read what the server sends until it closes the connection (keeping its first line and the byte count)."
        try:
            while True:
                data = await self.reader.read(65536)
                if not data: return self._closed("eof")
                if self.answered_s is None: self.answered_s = self.elapsed()
                self.received += len(data)
                if self.status is None and len(self.first_line) < 512:
                    self.first_line = (self.first_line + data[:512]).split(b"\r\n")[0][:200]
                    parts = self.first_line.split()
                    if len(parts) >= 2 and parts[1].isdigit(): self.status = int(parts[1])
        except (ConnectionError, OSError) as e: self._closed(type(e).__name__)

    def _closed(self, how: str):
        if self.closed_s is None: self.closed_s, self.closed_how = self.elapsed(), how

    async def send(self, data: bytes, deadline: float) -> str:
        "Write and wait until the server has taken it in (socket buffers included): 'ok', 'closed' or 'stalled'."
        if self.writer is None or self.closed: return "closed"
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError: return "stalled"  # the server stopped reading (and did not close)
        except (ConnectionError, OSError) as e: self._closed(type(e).__name__); return "closed"
        self.sent += len(data)
        return "ok"

    async def close(self):
        "Close from our side, the ordinary way (FIN)."
        if self.writer is None: return
        self.writer.close()
        with contextlib.suppress(Exception): await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        self.abort()

    def abort(self):
        if self.watcher: self.watcher.cancel()
        if self.writer: self.writer.transport.abort()

    def record(self) -> dict:
        return {"connected": self.writer is not None, "error": self.error, "sent_bytes": self.sent,
                "status": self.status, "first_line": self.first_line.decode("latin-1") or None,
                "answered_after_s": self.answered_s, "closed_after_s": self.closed_s, "closed_how": self.closed_how,
                "outcome": self.outcome}


async def open_all(conns, at_once: int = 50):
    "Open the connections, `at_once` at a time."
    for i in range(0, len(conns), at_once): await asyncio.gather(*(c.open() for c in conns[i:i + at_once]))


async def until(done, deadline: float, every: float = 0.1):
    "Wait until `done()` or the deadline, checking every `every` s."
    while not done() and time.monotonic() < deadline: await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))


def summarise(conns, held_until: float) -> dict:
    "What a group of connections saw: answers by status, how many the server closed and when, how long the rest stayed."
    ok = [c for c in conns if c.writer is not None]
    closed = [c.closed_s for c in ok if c.closed]
    still_open = [round(held_until - c.t0, 1) for c in ok if not c.closed]
    return {"connections": len(conns), "connected": len(ok),
            "connect_errors": dict(collections.Counter(c.error for c in conns if c.error)),
            "statuses": dict(collections.Counter(str(c.status) for c in ok if c.status is not None)),
            "answered_after_s": stats([c.answered_s for c in ok if c.answered_s is not None]),
            "closed_by_server": len(closed), "closed_how": dict(collections.Counter(c.closed_how for c in ok if c.closed)),
            "closed_after_s": stats(closed), "open_at_end": len(still_open), "open_at_end_held_s": stats(still_open, 1),
            "sent_bytes": sum(c.sent for c in ok)}


def conn_summary(s: dict) -> str:
    "A group's outcome in a few words, for the table."
    st = ",".join(f"{k}x{v}" for k, v in s["statuses"].items())
    closed = f"closed {s['closed_by_server']}/{s['connected']}"
    if s["closed_after_s"]: closed += f" @{s['closed_after_s']['p50']:g}s"
    return " ".join(x for x in (st, closed) if x)


# ---------------------------------------------------------------- the abuses: each fills `out`, even when cut short

async def no_abuse(ctx, deadline: float, out: dict):
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    out["summary"] = "-"


async def big_header(ctx, deadline: float, out: dict, n: int = 4, total: int = 64 * MiB, chunk: int = 64 * 1024):
    "Request lines followed by a header that never ends: up to `total` bytes each, unless the server answers or closes."
    conns = [Conn(ctx.srv.port) for _ in range(n)]
    piece = b"a" * chunk

    async def push(c: Conn):
        c.outcome = await c.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ", deadline)
        while c.outcome == "ok" and c.sent < total and not c.settled and time.monotonic() < deadline:
            c.outcome = await c.send(piece, deadline)
        if c.outcome == "ok": c.outcome = "answered" if c.settled else ("all sent" if c.sent >= total else "phase ended")
        await until(lambda: c.settled, deadline)  # held: does the server let go of it (and its memory)?

    try:
        await open_all(conns)
        await asyncio.gather(*(push(c) for c in conns if c.writer))
    finally:
        out.update(summarise(conns, time.monotonic()))
        out["per_connection"] = [c.record() for c in conns]
        out["accepted_mib"] = round(sum(c.sent for c in conns) / MiB, 1)
        outcomes = collections.Counter(c.outcome for c in conns)
        out["summary"] = (f"{out['accepted_mib']:g} MiB taken; " + ",".join(f"{k}x{v}" for k, v in outcomes.items())
                          + f"; {conn_summary(out)}")
        for c in conns: c.abort()


async def idle(ctx, deadline: float, out: dict, silent: int = 300, half: int = 50):
    "Connections that send nothing, and some that send half a request line, held to the end."
    quiet, partial = [Conn(ctx.srv.port) for _ in range(silent)], [Conn(ctx.srv.port) for _ in range(half)]
    try:
        await open_all(quiet + partial)
        for c in partial: await c.send(b"GET /hea", deadline)
        await until(lambda: all(c.settled for c in quiet + partial), deadline, every=0.25)
    finally:
        out["silent"], out["half_line"] = summarise(quiet, time.monotonic()), summarise(partial, time.monotonic())
        out["summary"] = f"silent: {conn_summary(out['silent'])}; half line: {conn_summary(out['half_line'])}"
        for c in quiet + partial: c.abort()


async def trickle(c: Conn, data: bytes, every: float, deadline: float):
    "Send `data` one byte every `every` s, until it is all sent, the server answers or closes, or the deadline."
    for i in range(len(data)):
        if c.settled or time.monotonic() >= deadline: break
        c.outcome = await c.send(data[i:i + 1], deadline)
        if c.outcome != "ok": break
        await asyncio.sleep(min(every, max(0.0, deadline - time.monotonic())))


async def trickle_head(ctx, deadline: float, out: dict, n: int = 20, every: float = 2.0):
    "A valid request's headers, one byte every 2 s: does the server close connections whose headers never end?"
    conns = [Conn(ctx.srv.port) for _ in range(n)]
    try:
        await open_all(conns)
        await asyncio.gather(*(trickle(c, post_head("/v1/embeddings", 25) + BODY_25, every, deadline)
                               for c in conns if c.writer))
    finally:
        out.update(summarise(conns, time.monotonic()))
        out["summary"] = conn_summary(out)
        for c in conns: c.abort()


async def trickle_body(ctx, deadline: float, out: dict, n: int = 10, every: float = 0.4):
    "Whole headers at once, then a 25-byte body one byte every 0.4 s: when, and with what, does the server answer?"
    conns = [Conn(ctx.srv.port) for _ in range(n)]

    async def one(c: Conn):
        c.outcome = await c.send(post_head("/v1/embeddings", len(BODY_25)), deadline)
        if c.outcome == "ok": await trickle(c, BODY_25, every, deadline)
        await until(lambda: c.settled, deadline)

    try:
        await open_all(conns)
        await asyncio.gather(*(one(c) for c in conns if c.writer))
    finally:
        out.update(summarise(conns, time.monotonic()))
        out["per_connection"] = [c.record() for c in conns]
        when = f" @{out['answered_after_s']['p50']:g}s" if out["answered_after_s"] else ""
        out["summary"] = conn_summary(out) + when
        for c in conns: c.abort()


async def request_counters(ctx) -> dict:
    "The lines transformer_opt_requests_total{...} and transformer_opt_failures_total{...} of /metrics: {line: value}."
    async with aiohttp.ClientSession() as s:
        async with s.get(ctx.srv.spec["base"] + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r:
            text = await r.text()
    out = {}
    for line in text.splitlines():
        if line.startswith(("transformer_opt_requests_total", "transformer_opt_failures_total")):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


async def disconnect_body(ctx, deadline: float, out: dict, times: int = 50, length: int = 100_000, part: int = 1000):
    "Clients that promise a 100,000-byte body, send 1000 bytes and leave: how does the server count them?"
    out["counters_before"] = before = await request_counters(ctx)
    body = (b'{"input": "' + b"a" * part)[:part]
    sent = collections.Counter()
    try:
        for _ in range(times):
            if time.monotonic() >= deadline: break
            c = Conn(ctx.srv.port)
            if not await c.open(): sent["connect-error"] += 1; continue
            sent[await c.send(post_head("/v1/embeddings", length) + body, deadline)] += 1
            await c.close()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # for the server to see the last ones go
        out["counters_after"] = after = await request_counters(ctx)
    finally:
        out["sent"] = dict(sent)
    out["counters_delta"] = delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    # the normal clients' and /health's own successes are in the delta too: the summary leaves 200s out
    shown = {k.split("{", 1)[1].rstrip("}"): int(v) for k, v in delta.items() if 'status="200"' not in k}
    out["summary"] = " ".join(f"{k}+{v}" for k, v in shown.items()) or "no failures counted"


async def post(session, url: str, body: bytes, deadline: float, max_read: int = 1 << 30):
    "POST a JSON body: (outcome, seconds, bytes of the answer read, first 300 bytes of it, Retry-After)."
    t = time.monotonic()
    head, size, retry = b"", 0, None
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=max(1.0, deadline + GRACE_S - t))) as r:
            async for piece in r.content.iter_chunked(1 << 20):  # counted, not kept: a /tokenize answer can be huge
                if len(head) < 300: head += piece[:300 - len(head)]
                size += len(piece)
                if size > max_read: break
            outcome, retry = str(r.status), r.headers.get("Retry-After")
    except asyncio.TimeoutError: outcome = "timeout"
    except aiohttp.ServerDisconnectedError: outcome = "disconnected"
    except (aiohttp.ClientError, OSError) as e: outcome, head = type(e).__name__, str(e).encode()[:300]
    return outcome, time.monotonic() - t, size, head, retry


def outcome_summary(records) -> dict:
    "Outcomes of (outcome, seconds, size, head) records: counts, latency by outcome, the first refusal's words."
    by = collections.defaultdict(list)
    for o, s, *_ in records: by[o].append(s)
    first_refusal = next(({"status": o, "body": h.decode("utf-8", "replace")} for o, _, _, h in records if o != "200"), None)
    return {"requests": len(records), "outcomes": {k: len(v) for k, v in by.items()},
            "seconds": {k: stats(v) for k, v in by.items()}, "answer_bytes": stats([r[2] for r in records], 0),
            "first_refusal": first_refusal}


def outcomes_text(s: dict) -> str:
    return ",".join(f"{k}x{v}" for k, v in s["outcomes"].items()) or "none sent"


async def large_request(ctx, deadline: float, out: dict, texts: int = 1024, max_requests: int = 2000):
    "One client sending 1024 texts per request on /embed, in a loop (a refusal's Retry-After, at most 1 s, waited out)."
    body = json.dumps({"inputs": loadtest.TextCycle(ctx.texts).take(texts)}).encode()
    records, started = [], 0
    try:
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline and started < max_requests:
                started += 1
                o, sec, size, head, retry = await post(s, ctx.srv.spec["base"] + "/embed", body, deadline)
                records.append((o, sec, size, head))
                if o != "200":
                    try: await asyncio.sleep(min(1.0, float(retry or 0.1)))
                    except ValueError: await asyncio.sleep(0.1)
    finally:
        out.update(texts_per_request=texts, body_bytes=len(body), unfinished=started - len(records),
                   **outcome_summary(records))
        out["summary"] = f"{texts} texts: {outcomes_text(out)}"


async def surrogate(ctx, deadline: float, out: dict, rounds: int = 60):
    "A lone surrogate escape (valid JSON, not encodable as UTF-8) as a text, on each route, once a second."
    bodies = {"/embed": b'{"inputs": "a\\ud800b"}', "/v1/embeddings": b'{"input": "a\\ud800b", "model": "m"}',
              "/tokenize": b'{"inputs": "a\\ud800b"}'}
    records = collections.defaultdict(list)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(rounds):
                t = time.monotonic()
                if t >= deadline: break
                for route, body in bodies.items():
                    records[route].append((await post(s, ctx.srv.spec["base"] + route, body, deadline))[:4])
                await asyncio.sleep(max(0.0, min(t + 1.0, deadline) - time.monotonic()))
    finally:
        out["bodies"] = {k: v.decode() for k, v in bodies.items()}
        out["routes"] = {route: outcome_summary(r) for route, r in records.items()}
        out["summary"] = " ".join(f"{route}:{outcomes_text(s)}" for route, s in out["routes"].items())


def flood_body(texts, limits: dict, target: float = 7.8 * MiB) -> tuple[bytes, int, int]:
    "A /tokenize body of about `target` bytes within the server's limits (payload, texts per request, characters per text)."
    size = int(min(target, 0.97 * limits.get("payload_limit", 8 * MiB)))
    n = int(min(2048, limits.get("max_client_batch", 2048)))
    stream = " ".join(texts)
    twice, chars = stream * 2, int(min(limits.get("max_input_chars", 65536), size // n - 8, len(stream)))
    for _ in range(8):  # shrink until it fits (escapes make the JSON longer than the characters)
        items = [twice[(i * 997) % len(stream):][:chars] for i in range(n)]
        body = json.dumps({"inputs": items}).encode()
        if len(body) <= size: break
        chars = int(chars * size / len(body)) - 2
    return body, n, chars


async def tokenize_flood(ctx, deadline: float, out: dict, workers: int = 4, max_requests: int = 200):
    "4 clients sending ~7.8 MiB /tokenize requests back to back: does the rest of the server still answer?"
    body, n, chars = ctx.flood
    records, started = [], 0

    async def worker(s):
        nonlocal started
        while time.monotonic() < deadline and started < max_requests:
            started += 1
            records.append((await post(s, ctx.srv.spec["base"] + "/tokenize", body, deadline))[:4])
            if records[-1][0] != "200": await asyncio.sleep(0.2)  # a refusal is cheap: no spinning on it

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as s:
            await asyncio.gather(*(worker(s) for _ in range(workers)))
    finally:
        out.update(body_mib=round(len(body) / MiB, 2), texts_per_request=n, chars_per_text=chars, workers=workers,
                   unfinished=started - len(records), **outcome_summary(records))
        secs = out["seconds"].get("200")
        out["summary"] = f"{out['body_mib']} MiB x{workers}: {outcomes_text(out)}" + (
            f" ({secs['p50']:g}s each)" if secs else "")


ABUSES = {"none": no_abuse, "big-header": big_header, "idle": idle, "trickle-head": trickle_head,
          "trickle-body": trickle_body, "disconnect-body": disconnect_body, "large-request": large_request,
          "surrogate": surrogate, "tokenize-flood": tokenize_flood}
MIN_PHASE_S = {"trickle-body": 13.0}  # its 25 bytes take 10 s to send: the phase waits for the answer


# ---------------------------------------------------------------- a phase

def normal_summary(r: dict) -> dict:
    lat = r["latency_ms"]
    return {"clients": r["concurrency"], "requests": r["requests"], "ok": r["ok"], "requests_per_s": r["requests_per_s"],
            "errors": r["errors"], "latency_ms": {k: lat[k] for k in ("p50", "p99", "max")}}


def health_summary(samples) -> dict:
    fails = [o for _, o in samples if o != "200"]
    return {"samples": len(samples), "failures": len(fails), "failure_kinds": dict(collections.Counter(fails)),
            "latency_ms": stats([ms for ms, _ in samples], 1)}


def server_summary(s: dict, cpu_s: float, seconds: float, alive: bool) -> dict:
    rss, fds = s["rss"] or [None], s["fds"] or [None]
    return {"rss_mib_start": rss[0], "rss_mib_peak": max(rss, key=lambda x: x or 0), "rss_mib_end": rss[-1],
            "rss_growth_mib": round(max(rss) - rss[0], 1) if rss[0] is not None else None,
            "fds_start": fds[0], "fds_peak": max(fds, key=lambda x: x or 0), "fds_end": fds[-1],
            "cpu_pct_of_one_core": round(100 * cpu_s / seconds, 1), "samples": len(s["rss"]), "alive_after": alive}


async def phase(fault: str, ctx) -> dict:
    "One phase: the normal clients and the abuse side by side, the server and /health watched throughout."
    a, srv = ctx.a, ctx.srv
    limit_s = max(a.duration, MIN_PHASE_S.get(fault, 0.0))
    stop, samples, health, abuser = asyncio.Event(), {"rss": [], "fds": [], "lag_ms": []}, [], {}
    t0, cpu0 = time.monotonic(), serve_bench.tree_cpu_s(srv.pid)
    watchers = [asyncio.ensure_future(sample_server(srv.pid, stop, samples)),
                asyncio.ensure_future(probe_health(srv.spec["health"], stop, health))]
    normal = asyncio.ensure_future(loadtest.closed_loop(srv.spec["url"], a.clients, a.duration, warmup=0.0,
                                                        timeout=a.timeout, texts=ctx.texts, model=a.model))
    abuse = asyncio.ensure_future(ABUSES[fault](ctx, t0 + limit_s, abuser))
    _, late = await asyncio.wait({abuse}, timeout=limit_s + CUT_S)
    if late: abuser["overran"] = True; abuse.cancel()
    try: await abuse
    except asyncio.CancelledError: pass
    except Exception as e: abuser["error"] = f"{type(e).__name__}: {e}"  # recorded: one abuse failing keeps the rest
    try: normal_res = normal_summary(await asyncio.wait_for(normal, a.duration + a.timeout + GRACE_S))
    except (asyncio.TimeoutError, ValueError) as e: normal_res = {"error": f"{type(e).__name__}: {e}"}
    stop.set()
    await asyncio.gather(*watchers, return_exceptions=True)
    seconds = time.monotonic() - t0
    lag = sorted(samples["lag_ms"])
    return {"fault": fault, "doc": (ABUSES[fault].__doc__ or "").strip(), "phase_s": round(seconds, 2),
            "normal": normal_res, "health": health_summary(health),
            "server": server_summary(samples, serve_bench.tree_cpu_s(srv.pid) - cpu0, seconds, srv.alive()),
            "client_loop_lag_ms": {"p99": round(loadtest.percentile(lag, 99) or 0, 1), "max": round(max(lag, default=0), 1)},
            "abuser": abuser}


# ---------------------------------------------------------------- a series, the table, the method

def run_series(name: str, a, texts, result: dict, write) -> dict:
    "Start one server, run every phase against it, stop it; its record is kept in `result` as it grows."
    rec = result["servers"][name] = {"faults": {}}
    if serve_bench.is_baseline(name): rec["revision"] = serve_bench.baseline_revision(name, a)  # before it starts
    srv = Server(name, a, a.log_dir)
    print(f"[{name}] starting", flush=True)
    rec["startup_s"] = round(srv.start(), 1)
    rec.update(command=srv.spec["cmd"], log=srv.spec["log"], info=srv.get_json("/info"))
    limits = rec["info"].get("limits", {})
    ctx = argparse.Namespace(a=a, srv=srv, texts=texts, flood=flood_body(texts, limits) if "tokenize-flood" in a.faults else None)
    try:
        for fault in ["none", *a.faults]:
            r = rec["faults"][fault] = loadtest.run(phase(fault, ctx), use_uvloop=not a.no_uvloop)
            r["after"] = settle(srv)
            write()
            print("  " + row(name, fault, r), flush=True)
    finally:
        rec["restarts"] = srv.restarts
        rec["stop"] = srv.stop()
        write()
    return rec


HEADER = (f"{'server':<14} {'fault':<16} {'reqs':>5} {'errors':<22} {'p99 ms':>8} {'health fail/max ms':>18} "
          f"{'RSS MiB':>8} {'fds':>5}  abuser")


def row(name: str, fault: str, r: dict) -> str:
    n, h, s = r["normal"], r["health"], r["server"]
    errs = n.get("errors", {})
    err = f"{sum(errs.values())}" + (" (" + ",".join(f"{k}:{v}" for k, v in errs.items()) + ")" if errs else "")
    p99 = (n.get("latency_ms") or {}).get("p99")
    hmax = (h["latency_ms"] or {}).get("max")
    abuser = r["abuser"].get("summary") or r["abuser"].get("error") or "?"
    if r["abuser"].get("error"): abuser += f" [error: {r['abuser']['error']}]"
    if r["after"].get("restarted"): abuser += f" [server {r['after']['why']}: restarted]"
    return (f"{name:<14} {fault:<16} {n.get('requests', '-'):>5} {err[:22]:<22} {p99 if p99 is not None else '-':>8} "
            f"{str(h['failures']) + '/' + str(hmax):>18} {str(s['rss_mib_peak']):>8} {str(s['fds_peak']):>5}  {abuser}")


def table(result: dict) -> str:
    lines = [HEADER]
    for name, rec in result["servers"].items():
        if "error" in rec: lines.append(f"{name:<14} failed: {rec['error']}")
        for fault, r in rec.get("faults", {}).items(): lines.append(row(name, fault, r))
    return "\n".join(lines)


def method(a) -> str:
    extra = f", with {a.ours_args!r}" if a.ours_args else ""
    baseline = (f"; and the same series against the code of git revision {a.baseline} (servers['ours@{a.baseline}']: "
                f"a detached git worktree, run as python -m transformer_opt serve with PYTHONPATH and cwd on it)"
                if a.baseline else "")
    return (
        f"Our server (transformer-opt serve on the engine folder {a.engine}{extra}) started once on a free 127.0.0.1 "
        f"port{baseline}. "
        f"Per phase, for {a.duration:g} s: {a.clients} normal clients (tools/loadtest.py closed loop, no warmup, one "
        f"corpus text per request on /v1/embeddings, per-request timeout {a.timeout:g} s; errors by status code or "
        f"exception name; latency p50/p99 over the successful answers) beside one abuse; the server's RSS (sum over "
        f"its process tree, /proc/PID/statm) and open file descriptors (/proc/PID/fd) sampled every "
        f"{SAMPLE_EVERY_S} s; GET /health every {HEALTH_EVERY_S} s on a fresh connection, a failure being no 200 "
        f"within {HEALTH_TIMEOUT_S:g} s (its max latency includes the failures' time). A phase 'none' (normal load "
        f"only) first, for reference. Abuses, raw sockets (asyncio streams) unless said: big-header = 4 connections, "
        f"a request line then one header line that never ends, 64 KiB writes each awaited until the server reads "
        f"(drain), up to 64 MiB a connection, stopping when the server answers or closes, then held to the phase's "
        f"end (bytes taken = written and drained, the kernel's socket buffers included); idle = 300 silent "
        f"connections and 50 that send 'GET /hea', held to the phase's end; trickle-head = 20 connections sending a "
        f"valid POST's headers one byte every 2 s; trickle-body = 10 POST /v1/embeddings with Content-Length 25, the "
        f"headers at once and the body one byte every 0.4 s, the phase lasting at least 13 s; disconnect-body = 50 "
        f"times (0.05 s apart) Content-Length 100000, 1000 bytes of body, then close (FIN), and the "
        f"transformer_opt_requests_total / transformer_opt_failures_total lines of /metrics before and 1 s after "
        f"(their delta includes the normal clients' and /health's successes); large-request (aiohttp) = one client "
        f"posting 1024 corpus texts per request to /embed back to back, waiting out a refusal's Retry-After (at "
        f"most 1 s); surrogate (aiohttp) = the raw JSON body with the escape \\ud800 (a lone surrogate, valid JSON, "
        f"not UTF-8-encodable) as a text on /embed, /v1/embeddings and /tokenize, once a second each; "
        f"tokenize-flood (aiohttp) = 4 clients posting ~7.8 MiB /tokenize bodies (corpus text, as many texts and "
        f"characters per text as the server's /info limits allow, under 97% of its payload limit) back to back, "
        f"answers counted and thrown away. Client timeouts end at the phase's end + {GRACE_S:g} s. Between phases "
        f"the server gets up to {SETTLE_S:g} s to be healthy and under 25% of a core busy, and is restarted if it "
        f"died or stayed unhealthy (recorded under 'after'). The client (all of the above, one asyncio loop in one "
        f"process) shares the machine's {serve_bench.machine()['usable_cpus']} cores with the server; its own loop "
        f"lag is recorded per phase (client_loop_lag_ms) to tell a slow client from a slow server.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, from " + ",".join(FAULTS))
    p.add_argument("--clients", type=int, default=8, help="normal clients (closed loop, one text per request)")
    p.add_argument("--duration", type=float, default=None, help="seconds per phase (default 15, quick 5)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 s phases (unless --duration)")
    p.add_argument("--timeout", type=float, default=10.0, help="normal clients' per-request timeout, seconds")
    p.add_argument("--baseline", metavar="REV", default=None, help="also run the series against ours from this git "
                   "revision's code (a temporary git worktree), under servers['ours@REV']")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="OMP/MKL threads of the server")
    p.add_argument("--engine", type=Path, default=serve_bench.ENGINE, help="the engine folder (built when missing)")
    p.add_argument("--ours-args", default="", help="extra arguments for `transformer-opt serve`")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="the normal requests' 'model' field")
    p.add_argument("--texts", help="a file of texts, one a line (default: the built-in corpus)")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--no-uvloop", action="store_true", help="client on asyncio's own loop even where uvloop is installed")
    p.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "serve_faults_logs")
    p.add_argument("--out", type=Path, default=serve_bench.ROOT / "results/cpu/serve_faults.json")
    a = p.parse_args(argv)
    if a.duration is None: a.duration = 5.0 if a.quick else 15.0
    a.faults = [f.strip() for f in a.faults.split(",") if f.strip()]
    if bad := [f for f in a.faults if f not in FAULTS]: p.error(f"unknown faults {bad}; choose from {FAULTS}")
    if not 1 <= a.clients <= 256: p.error("--clients must be in [1, 256]")
    if not 1 <= a.duration <= 600: p.error("--duration must be in [1, 600] seconds")
    if not 0.1 <= a.timeout <= 120: p.error("--timeout must be in [0.1, 120] seconds")
    a.log_dir.mkdir(parents=True, exist_ok=True)
    texts = loadtest.load_texts(a.texts)
    from transformer_opt.core import minilm_dir
    serve_bench.build_engine(a.engine, minilm_dir())

    result = {"kind": "serve_faults", "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": serve_bench.machine(), "git": serve_bench.git_state(),
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
              "method": method(a), "texts": {"count": len(texts), "source": a.texts or "builtin_corpus()"},
              "servers": {}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write = lambda: a.out.write_text(json.dumps(result, indent=1) + "\n")  # after every phase: a crash keeps the rest
    names = ["ours", *([f"ours@{a.baseline}"] if a.baseline else [])]
    with contextlib.ExitStack() as trees:  # the baseline's worktree, removed at the end
        a.worktrees, a.commits = {}, {}
        for name in names:
            try:
                if serve_bench.is_baseline(name):
                    rev = serve_bench.rev_of(name)
                    a.worktrees[rev], a.commits[rev] = trees.enter_context(serve_bench.worktree(rev))
                run_series(name, a, texts, result, write)
            except (RuntimeError, ValueError, OSError) as e:  # one server failing does not lose the other
                print(f"[{name}] failed: {e}", file=sys.stderr, flush=True)
                result["servers"].setdefault(name, {})["error"] = str(e)
                write()
    print("\n" + table(result))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
