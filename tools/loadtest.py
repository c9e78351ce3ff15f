"""HTTP load test for OpenAI-shaped embedding routes on this machine: closed or open loop, real texts.

    python tools/loadtest.py http://127.0.0.1:8080/v1/embeddings --mode closed --concurrency 8 --duration 20
    python tools/loadtest.py http://127.0.0.1:8080/v1/embeddings --mode open --rate 50 --arrivals poisson

Each request is `POST URL` with `{"input": [T texts], "model": M}`; the texts are the built-in corpus (2,000
paragraphs of stdlib docstrings, `transformer_opt.core.builtin_corpus`) or the lines of `--texts FILE`, taken in
turn and cycled, so every server sees the same texts in the same order.

- closed loop: C workers, each sends its next request as soon as the previous one answers.
- open loop: requests launched on a fixed schedule (R req/s, Poisson or uniform gaps) whatever the answers; at most
  `max_outstanding` in flight, and a request due while that many are outstanding is not sent but counted as the
  error 'client-cap' (the client cannot pile up unbounded work). Latency is measured from the *scheduled* time,
  so a client that falls behind shows up in the latency instead of hiding it (no coordinated omission).

Accounting, the same in both modes: the first `warmup` seconds are not counted. Throughput (requests/s, texts/s) is
the successful answers that *completed* inside the measured window, divided by its length. Latency and errors are
over the requests *sent* inside the window, each awaited to its end (answer, error or timeout), so slow answers at
the end of the window are not dropped. The client's own CPU time over the window is reported, to tell what the
client cost (it shares the machine's cores with the server).

Bounded by construction: only loopback hosts, duration, rate, concurrency and request count are capped.
"""
import argparse, asyncio, itertools, json, random, re, sys, time
from urllib.parse import urlsplit

import aiohttp

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_DURATION_S = 4 * 3600.0  # a soak may be long, but never unbounded
MAX_WARMUP_S = 120.0
MAX_REQUESTS = 2_000_000  # per run, warmup included
MAX_CONCURRENCY = 1024
MAX_RATE = 5000.0
MAX_TEXTS_PER_REQUEST = 2048
_EMBEDDING_KEY = re.compile(rb'"embedding"\s*:')  # one per returned vector ("object":"embedding" has no colon after)


def check_url(url: str) -> str:
    "The URL if it targets this machine's loopback over http; else ValueError."
    u = urlsplit(url)
    if u.scheme != "http": raise ValueError(f"only http:// URLs, got {url!r}")
    if u.hostname not in LOCAL_HOSTS: raise ValueError(f"only loopback hosts {sorted(LOCAL_HOSTS)}, got {u.hostname!r}")
    return url


def _check_range(name, value, lo, hi):
    if not lo <= value <= hi: raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")


def load_texts(path: str | None = None) -> list[str]:
    "The lines of `path` (non-empty), or the built-in corpus of 2,000 English paragraphs (fixed sample, seed 0)."
    if path:
        with open(path, encoding="utf-8") as f: texts = [line.strip() for line in f if line.strip()]
    else:
        from transformer_opt.core import builtin_corpus
        texts = builtin_corpus()
    if not texts: raise ValueError("no texts")
    return texts


class TextCycle:
    "The texts in turn, forever: `take(n)` gives the next n."
    def __init__(self, texts): self._it = itertools.cycle(list(texts))
    def take(self, n): return [next(self._it) for _ in range(n)]


def percentile(sorted_vals, q):
    "Linear-interpolated percentile (q in [0, 100]) of an already sorted list; None when empty."
    if not sorted_vals: return None
    k = (len(sorted_vals) - 1) * q / 100
    lo = int(k); hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


async def _request(session, url, body, n_texts, timeout, check_full):
    "Send one request; the outcome: 'ok', the HTTP status as a string, or an error kind."
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout) as r:
            data = await r.read()
            if r.status != 200: return str(r.status)
            # a cheap check on every answer (count the vectors without parsing floats), a full one when asked
            if len(_EMBEDDING_KEY.findall(data)) != n_texts: return "bad-body"
            if check_full:
                d = json.loads(data)["data"]
                if [x["index"] for x in d] != list(range(n_texts)) or len({len(x["embedding"]) for x in d}) != 1:
                    return "bad-body"
            return "ok"
    except asyncio.TimeoutError: return "timeout"
    except aiohttp.ServerDisconnectedError: return "disconnected"
    except aiohttp.ClientConnectorError: return "connect"
    except (aiohttp.ClientError, OSError) as e: return type(e).__name__


def _summary(records, ws, we, t_end, texts_per_request, cpu_s, extra):
    "The report dict from (t_sent, t_done, outcome) records, the window [ws, we) and the client CPU from ws to t_end."
    duration = we - ws
    in_window = [r for r in records if ws <= r[0] < we]
    lat = sorted((d - s) * 1000 for s, d, o in in_window if o == "ok")
    errors = {}
    for _, _, o in in_window:
        if o != "ok": errors[o] = errors.get(o, 0) + 1
    done_ok = sum(1 for _, d, o in records if o == "ok" and ws <= d <= we)
    r3 = lambda x: None if x is None else round(x, 3)
    return {**extra, "texts_per_request": texts_per_request, "duration_s": round(duration, 3),
            "requests": len(in_window), "ok": len(lat),
            "requests_per_s": round(done_ok / duration, 3), "texts_per_s": round(done_ok * texts_per_request / duration, 3),
            "latency_ms": {"p50": r3(percentile(lat, 50)), "p90": r3(percentile(lat, 90)),
                           "p99": r3(percentile(lat, 99)), "mean": r3(sum(lat) / len(lat) if lat else None),
                           "max": r3(lat[-1] if lat else None)},
            "errors": errors, "error_rate": round(sum(errors.values()) / len(in_window), 5) if in_window else None,
            # the client's CPU from the window's start to the last answer (the drain included), so its cost per
            # answer can be told: what a server faster than this client could not be measured past
            "client_cpu_s": round(cpu_s, 3), "client_cpu_pct_of_one_core": round(100 * cpu_s / (t_end - ws), 1),
            "client_cpu_ms_per_request": round(1000 * cpu_s / max(1, sum(1 for _, d, _ in records if d >= ws)), 3),
            "client_loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}


def _connector(limit):
    # idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive timeout closes them from its side:
    # reusing a connection the server is closing would be a client-made 'disconnected' error
    return aiohttp.TCPConnector(limit=limit, keepalive_timeout=4.0)


def _check_common(url, duration, warmup, texts_per_request, timeout, max_requests):
    check_url(url)
    _check_range("duration", duration, 0.1, MAX_DURATION_S)
    _check_range("warmup", warmup, 0, MAX_WARMUP_S)
    _check_range("texts_per_request", texts_per_request, 1, MAX_TEXTS_PER_REQUEST)
    _check_range("timeout", timeout, 0.01, 600)
    _check_range("max_requests", max_requests, 1, MAX_REQUESTS)


async def _cpu_at(t):
    "process_time() at monotonic time t (or now, if t has passed)."
    await asyncio.sleep(max(0.0, t - time.monotonic()))
    return time.process_time()


async def closed_loop(url: str, concurrency: int, duration: float, texts_per_request: int = 1, warmup: float = 3.0,
                      timeout: float = 30.0, texts: list[str] | None = None, model: str = "m",
                      max_requests: int = MAX_REQUESTS, check_full: bool = False) -> dict:
    "Fixed concurrency: `concurrency` workers, each sending its next request when the previous one answers."
    _check_common(url, duration, warmup, texts_per_request, timeout, max_requests)
    _check_range("concurrency", concurrency, 1, MAX_CONCURRENCY)
    cycle, records, sent = TextCycle(texts or load_texts()), [], 0
    tmo = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=_connector(concurrency)) as session:
        t0 = time.monotonic(); ws = t0 + warmup; we = ws + duration

        async def worker():
            nonlocal sent
            while sent < max_requests:
                t = time.monotonic()
                if t >= we: return
                sent += 1
                body = json.dumps({"input": cycle.take(texts_per_request), "model": model}).encode()
                outcome = await _request(session, url, body, texts_per_request, tmo, check_full)
                records.append((t, time.monotonic(), outcome))

        cpu_ws = asyncio.ensure_future(_cpu_at(ws))
        await asyncio.gather(*(worker() for _ in range(concurrency)))  # drained: every request sent has ended
        cpu_s, t_end = time.process_time() - await cpu_ws, time.monotonic()
    return _summary(records, ws, we, t_end, texts_per_request, cpu_s,
                    {"mode": "closed", "concurrency": concurrency, "warmup_s": warmup, "sent_total": sent})


async def open_loop(url: str, rate: float, duration: float, texts_per_request: int = 1, warmup: float = 3.0,
                    timeout: float = 30.0, texts: list[str] | None = None, model: str = "m",
                    arrivals: str = "poisson", max_outstanding: int = 256, seed: int = 0,
                    max_requests: int = MAX_REQUESTS, check_full: bool = False) -> dict:
    "Fixed arrival rate: `rate` requests/s launched on schedule whatever the answers, at most `max_outstanding` at once."
    _check_common(url, duration, warmup, texts_per_request, timeout, max_requests)
    _check_range("rate", rate, 0.01, MAX_RATE)
    _check_range("max_outstanding", max_outstanding, 1, MAX_CONCURRENCY)
    if arrivals not in ("poisson", "uniform"): raise ValueError(f"arrivals must be 'poisson' or 'uniform', got {arrivals!r}")
    cycle, records, rng = TextCycle(texts or load_texts()), [], random.Random(seed)
    tmo = aiohttp.ClientTimeout(total=timeout)
    lags, outstanding, tasks, sent = [], 0, set(), 0
    async with aiohttp.ClientSession(connector=_connector(max_outstanding)) as session:
        t0 = time.monotonic(); ws = t0 + warmup; we = ws + duration

        async def one(t_sched, body):
            nonlocal outstanding
            try:
                outcome = await _request(session, url, body, texts_per_request, tmo, check_full)
                records.append((t_sched, time.monotonic(), outcome))
            finally: outstanding -= 1

        cpu_ws = asyncio.ensure_future(_cpu_at(ws))
        t_next = t0
        while t_next < we and sent < max_requests:
            delay = t_next - time.monotonic()
            if delay > 0: await asyncio.sleep(delay)
            if ws <= t_next: lags.append(max(0.0, time.monotonic() - t_next) * 1000)
            sent += 1
            if outstanding >= max_outstanding: records.append((t_next, t_next, "client-cap"))
            else:
                outstanding += 1
                body = json.dumps({"input": cycle.take(texts_per_request), "model": model}).encode()
                task = asyncio.ensure_future(one(t_next, body))
                tasks.add(task); task.add_done_callback(tasks.discard)
            t_next += rng.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
        if tasks: await asyncio.gather(*list(tasks))  # drained: bounded by the per-request timeout
        cpu_s, t_end = time.process_time() - await cpu_ws, time.monotonic()
    lags.sort()
    return _summary(records, ws, we, t_end, texts_per_request, cpu_s,
                    {"mode": "open", "rate": rate, "arrivals": arrivals, "max_outstanding": max_outstanding,
                     "warmup_s": warmup, "sent_total": sent,
                     # how late the client launched requests (its own lag, part of the measured latency)
                     "client_launch_lag_ms": {"p50": round(percentile(lags, 50) or 0, 3),
                                              "p99": round(percentile(lags, 99) or 0, 3)}})


def run(coro, use_uvloop: bool = True):
    "Run a load coroutine, on uvloop where installed (less client CPU per request than asyncio's own loop)."
    factory = None
    if use_uvloop:
        try:
            import uvloop
            factory = uvloop.new_event_loop
        except ImportError: pass
    with asyncio.Runner(loop_factory=factory) as runner: return runner.run(coro)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="e.g. http://127.0.0.1:8080/v1/embeddings (loopback only)")
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--concurrency", type=int, default=8, help="closed loop: workers")
    p.add_argument("--rate", type=float, default=50.0, help="open loop: requests per second")
    p.add_argument("--arrivals", choices=("poisson", "uniform"), default="poisson", help="open loop: gaps")
    p.add_argument("--max-outstanding", type=int, default=256, help="open loop: cap on requests in flight")
    p.add_argument("--texts-per-request", "-T", type=int, default=1)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring, not counted")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    p.add_argument("--texts", help="a file of texts, one a line (default: the built-in corpus)")
    p.add_argument("--model", default="m", help="the request's 'model' field")
    p.add_argument("--check-full", action="store_true", help="parse every answer fully (costs client CPU)")
    p.add_argument("--no-uvloop", action="store_true", help="asyncio's own event loop even where uvloop is installed")
    p.add_argument("--out", help="also write the JSON report here")
    a = p.parse_args(argv)
    common = dict(texts_per_request=a.texts_per_request, warmup=a.warmup, timeout=a.timeout, model=a.model,
                  texts=load_texts(a.texts), max_requests=a.max_requests, check_full=a.check_full)
    try:
        if a.mode == "closed": coro = closed_loop(a.url, a.concurrency, a.duration, **common)
        else: coro = open_loop(a.url, a.rate, a.duration, arrivals=a.arrivals, max_outstanding=a.max_outstanding, **common)
        res = run(coro, use_uvloop=not a.no_uvloop)
    except ValueError as e: sys.exit(f"loadtest: {e}")
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f: f.write(text + "\n")


if __name__ == "__main__":
    main()
