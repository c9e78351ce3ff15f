"""The corpus job and the Ray Data scaling run as they are and as they were at a git revision, in one run.

    python tools/shape_bench.py --baseline REV [--corpus-size 1000] [--scale-texts 8000] [--rounds 2]
                                [--out results/cpu/shape_before_after.json]

A refactor that moves code between files must not make the jobs users run slower. Both sides run as fresh processes
from their own tree (the baseline from a detached git worktree of REV, imported through PYTHONPATH and checked to be
the tree's), alternating in rounds (baseline, current, baseline, current, ...), so that drift on the machine hits both:
- the corpus job, `python -m transformer_opt analyze MiniLM --corpus builtin --corpus-size N`: texts/s of each engine
  it measures (sentence-transformers, padded ONNX, the engine's FP32 and its recipe), read from its corpus.json;
  each side has its own work folder, kept over rounds (the first round builds, the later ones reuse the files);
- the Ray Data scaling run, `python tools/ray_scaling.py --texts N --repeats 1` (each side's own copy of the tool):
  texts/s of one process (1 and 2 threads) and of Ray pools of 1 and 2 single-thread workers.
Medians over rounds, and the ratio current / baseline per row (above 1: the current tree is faster).
"""
import argparse, datetime, json, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import ROOT, VENV, baseline_env, imported_from, machine, worktree  # noqa: E402  (a sibling file)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def run(cmd: list, env, cwd, timeout=3600) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if r.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr[-3000:]}")
    return r.stdout


def corpus_job(env, cwd, work: Path, out: Path, n: int) -> dict:
    "texts/s per engine of one `analyze --corpus builtin` process."
    run([str(VENV / "bin/python"), "-m", "transformer_opt", "analyze", MINILM, "--corpus", "builtin", "--corpus-size",
         str(n), "--work-dir", str(work), "--out", str(out)], env, cwd)
    rows = json.loads((out / "corpus.json").read_text())["rows"]
    return {r["engine"]: round(r["texts_per_s"], 1) for r in rows if r.get("texts_per_s")}


def scaling_run(env, tree: Path, out: Path, n: int) -> dict:
    "texts/s per configuration of one `tools/ray_scaling.py` process (the tree's own copy of the tool)."
    run([str(VENV / "bin/python"), str(tree / "tools/ray_scaling.py"), "--texts", str(n), "--repeats", "1",
         "--out", str(out)], env, str(tree))
    res = json.loads((out / "scale.json").read_text())
    return {r["run"]: round(r["texts_per_s"], 1) for r in res["rows"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="git revision to compare with (e.g. HEAD~1)")
    p.add_argument("--corpus-size", type=int, default=1000)
    p.add_argument("--scale-texts", type=int, default=8000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip", nargs="*", default=[], choices=["corpus", "scaling"])
    p.add_argument("--out", default=None)
    a = p.parse_args()
    import numpy as np
    tmp = Path(tempfile.mkdtemp(prefix="shape-bench-"))
    runs = {job: {"baseline": [], "current": []} for job in ("corpus", "scaling") if job not in a.skip}
    with worktree(a.baseline) as (tree, commit):
        where = imported_from(tree)
        sides = {"baseline": (baseline_env(tree), tree), "current": (None, ROOT)}
        for k in range(a.rounds):
            for name, (env, t) in sides.items():
                if "corpus" in runs:
                    row = corpus_job(env, str(t), tmp / f"work-{name}", tmp / f"corpus-{name}-{k}", a.corpus_size)
                    runs["corpus"][name].append(row); print("corpus", name, k, row, flush=True)
                if "scaling" in runs:
                    row = scaling_run(env, t, tmp / f"scale-{name}-{k}", a.scale_texts)
                    runs["scaling"][name].append(row); print("scaling", name, k, row, flush=True)
    med = {job: {name: {key: float(np.median([r[key] for r in rs if key in r])) for key in rs[0]}
                 for name, rs in sides_.items()} for job, sides_ in runs.items()}
    ratio = {job: {key: round(m["current"][key] / m["baseline"][key], 3) for key in m["current"] if key in m["baseline"]}
             for job, m in med.items()}
    res = {"created": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
           "baseline": {"rev": a.baseline, "commit": commit, "transformer_opt_file": where},
           "corpus_size": a.corpus_size, "scale_texts": a.scale_texts, "rounds": a.rounds,
           "method": "fresh processes per run, interleaved rounds (baseline first); corpus: `analyze --corpus builtin` "
                     "texts/s per engine from its corpus.json (own work folder per side, built in round 0); scaling: "
                     "`tools/ray_scaling.py --repeats 1` texts/s per configuration; medians over rounds",
           "runs": runs, "median": med, "ratio_current_over_baseline": ratio}
    print(json.dumps({"median": med, "ratio_current_over_baseline": ratio}, indent=1))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
