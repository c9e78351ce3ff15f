"""`transformer-opt run DIR` as it is and as it was at a git revision: wall time and peak memory, in one run.

    python tools/run_bench.py --baseline REV [--engine DIR] [--texts 4000] [--rounds 3] [--out results/cpu/run_before_after.json]

Both sides run the same engine folder on the same file of real texts (the built-in corpus, one paragraph a line), as a
fresh process each time (`python -m transformer_opt run DIR --input F --output F.npy`), in interleaved rounds (baseline,
current, baseline, current, ...) so that drift on the machine hits both alike. The baseline runs from a detached git
worktree of REV (`serve_bench.worktree`), imported through PYTHONPATH and checked to be the tree's. Per run: wall
seconds of the whole process (start, load, encode, write), and its peak resident memory (`ru_maxrss` of the child).
The rows of both sides are compared (worst cosine), so a faster run that computes something else is caught.
"""
import argparse, datetime, json, resource, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import ENGINE, ROOT, VENV, baseline_env, imported_from, machine, worktree  # noqa: E402  (a sibling file)


def one_run(engine: Path, texts: Path, out: Path, env: dict | None, cwd: str) -> dict:
    "Wall seconds and peak RSS (MiB) of one `run` process."
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run([str(VENV / "bin/python"), "-m", "transformer_opt", "run", str(engine), "--input", str(texts),
                        "--output", str(out)], capture_output=True, text=True, env=env, cwd=cwd, timeout=1800)
    wall = time.perf_counter() - t0
    if r.returncode: raise RuntimeError(f"run failed ({r.returncode}): {r.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (KiB on Linux)
    return {"wall_s": round(wall, 3), "peak_rss_mib": round(peak / 1024, 1), "peak_is_new": peak > before,
            "reported": r.stdout.strip().splitlines()[-1]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="git revision to compare with (e.g. HEAD~1)")
    p.add_argument("--engine", default=str(ENGINE), help="engine folder both sides run")
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from transformer_opt.core import builtin_corpus
    engine = Path(a.engine).resolve()
    if not (engine / "engine.json").is_file(): sys.exit(f"no engine folder at {engine}: build one (transformer-opt build)")
    tmp = Path(tempfile.mkdtemp(prefix="run-bench-"))
    texts = tmp / "texts.txt"
    texts.write_text("\n".join(t.replace("\n", " ") for t in builtin_corpus(a.texts)) + "\n")
    rows = {"current": [], "baseline": []}
    with worktree(a.baseline) as (tree, commit):
        where = imported_from(tree)
        sides = {"baseline": (baseline_env(tree), str(tree)), "current": (None, tempfile.gettempdir())}
        for k in range(a.rounds):
            for name, (env, cwd) in sides.items():
                # peak RSS per child needs a fresh parent: measure each run in a small wrapper process
                code = ("import json, sys; sys.path.insert(0, %r); from run_bench import one_run; from pathlib import Path; "
                        "print(json.dumps(one_run(Path(%r), Path(%r), Path(%r), %s, %r)))") % (
                            str(Path(__file__).parent), str(engine), str(texts), str(tmp / f"{name}.npy"),
                            "None" if env is None else repr(env), cwd)
                r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1900)
                if r.returncode: sys.exit(r.stderr[-3000:])
                row = json.loads(r.stdout.strip().splitlines()[-1]); row["round"] = k
                rows[name].append(row); print(name, row, flush=True)
        a_, b_ = np.load(tmp / "current.npy"), np.load(tmp / "baseline.npy")
        cos = (a_ * b_).sum(1) / np.linalg.norm(a_, axis=1) / np.linalg.norm(b_, axis=1)
    med = lambda name, key: float(np.median([r[key] for r in rows[name]]))
    res = {"created": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
           "engine": str(engine), "texts": a.texts, "rounds": a.rounds,
           "baseline": {"rev": a.baseline, "commit": commit, "transformer_opt_file": where},
           "method": "fresh `python -m transformer_opt run DIR` per run, interleaved rounds (baseline first), wall of the "
                     "whole process, peak RSS of the child (ru_maxrss); medians over rounds",
           "runs": rows, "worst_cosine_current_vs_baseline": float(cos.min()),
           "median": {n: {"wall_s": med(n, "wall_s"), "peak_rss_mib": med(n, "peak_rss_mib")} for n in rows}}
    res["ratio_current_over_baseline"] = {k: res["median"]["current"][k] / res["median"]["baseline"][k]
                                          for k in ("wall_s", "peak_rss_mib")}
    print(json.dumps({k: res[k] for k in ("median", "ratio_current_over_baseline", "worst_cosine_current_vs_baseline")}, indent=1))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
