"""The engine folder against running through the build, whole processes, in one run on this machine.

    python tools/folder_bench.py --old /tmp/old [--rounds 3] [--out results/cpu]

`--old` is a checkout of the code before the engine folder (`git worktree add /tmp/old 3d4e5bb`); its package is
imported from there with PYTHONPATH, in the same virtual environment. Three measurements, each alternated over
`--rounds` rounds, medians reported:

1. `transformer-opt run` on 100 lines of real text (paragraphs of the built-in corpus), whole process: wall time and
   peak resident memory (`ru_maxrss` of the child, from `os.wait4`). Before: `run MODEL` with a warm cache (the old
   code). After: `run DIR` on a folder built once by `transformer-opt build`, and `run MODEL` with a warm cache.
2. The engine on the built-in corpus (2,000 paragraphs, truncation 128), texts/s of `encode` after a warm-up, in a
   fresh process per round: the old engine (`tk.engine`) against the folder loaded by the runtime.
Both use the device's recipe (precision 'auto'), so the same ONNX file on the same CPU.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"

def run(cmd, env=None):
    "Wall seconds and stdout of one child process."
    t0 = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, env=env, text=True, cwd=tempfile.gettempdir())
    if p.returncode: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr[-3000:]}")
    return time.perf_counter() - t0, p.stdout

def run_measured(cmd, env=None):
    "Wall seconds and peak RSS (MiB) of a child, measured with os.wait4 (the child's own maxrss)."
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child cannot block on a full pipe
        t0 = time.perf_counter()
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=err, env=env,
                             cwd=tempfile.gettempdir())  # not the checkout: `-m`/`-c` put the working folder first on sys.path
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = status
        err.seek(0); text = err.read().decode(errors="replace")
    if status: raise SystemExit(f"{' '.join(map(str, cmd))} failed ({status}):\n{text[-3000:]}")
    return wall, ru.ru_maxrss / 1024

ENGINE_OLD = """
import sys, time, json
from transformer_opt.core import builtin_corpus
from transformer_opt.toolkit import TransformerOptimizationToolkit
import transformer_opt.engine  # the old code adds tk.engine there
texts = builtin_corpus(2000)
eng = TransformerOptimizationToolkit(sys.argv[1], work_dir=sys.argv[2]).engine(device="cpu", max_length=128)
eng.encode(texts[:200]); t0 = time.perf_counter(); eng.encode(texts); s = time.perf_counter() - t0
print(json.dumps(dict(texts_per_s=len(texts) / s, file=eng.path.name)))
"""
ENGINE_NEW = """
import sys, time, json
from transformer_opt.core import builtin_corpus
from transformer_opt.engine import InferenceEngine
texts = builtin_corpus(2000)
eng = InferenceEngine.load(sys.argv[1], device="cpu")
eng.encode(texts[:200]); t0 = time.perf_counter(); eng.encode(texts); s = time.perf_counter() - t0
print(json.dumps(dict(texts_per_s=len(texts) / s, file=eng.spec.provenance.get("file"))))
"""

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="a checkout of the code before the engine folder")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="results/cpu")
    a = ap.parse_args()
    py, work = sys.executable, Path(tempfile.mkdtemp(prefix="folder-bench-"))
    env_old = {**os.environ, "PYTHONPATH": str(Path(a.old).resolve()), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env_new = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env_new.pop("PYTHONPATH", None)
    sys.path.insert(0, str(ROOT))
    from transformer_opt.core import builtin_corpus, cpu_info
    inp = work/"lines.txt"
    inp.write_text("".join(t.replace("\n", " ") + "\n" for t in builtin_corpus(100, seed=1)))
    old_run = [py, "-m", "transformer_opt", "run", MODEL, "--input", inp, "--output", work/"old.npy", "--work-dir", work/"w-old"]
    new_model = [py, "-m", "transformer_opt", "run", MODEL, "--input", inp, "--output", work/"new-model.npy", "--work-dir", work/"w-new"]
    folder = work/"minilm-engine"
    new_dir = [py, "-m", "transformer_opt", "run", folder, "--input", inp, "--output", work/"new-dir.npy"]
    print("warming the caches and building the folder ...", flush=True)
    run_measured(old_run, env_old); run_measured(new_model, env_new)
    t0 = time.perf_counter()
    run_measured([py, "-m", "transformer_opt", "build", MODEL, "--out", folder, "--device", "cpu", "--work-dir", work/"w-build"], env_new)
    build_s = time.perf_counter() - t0
    import numpy as np
    rows = {"run MODEL (before: through the build, warm cache)": [], "run DIR (after: the runtime alone)": [],
            "run MODEL (after: warm cache, then the folder)": []}
    cmds = list(zip(rows, [(old_run, env_old), (new_dir, env_new), (new_model, env_new)]))
    for r in range(a.rounds):
        for name, (cmd, env) in cmds:
            rows[name].append(run_measured(cmd, env)); print(r, name, rows[name][-1], flush=True)
    a_old, a_new = np.load(work/"old.npy"), np.load(work/"new-dir.npy")
    cos = float(((a_old * a_new).sum(1) / np.linalg.norm(a_old, axis=1) / np.linalg.norm(a_new, axis=1)).min())
    eng = {"before: tk.engine (old code)": [], "after: InferenceEngine.load(DIR)": []}
    for r in range(a.rounds):
        eng["before: tk.engine (old code)"].append(json.loads(run([py, "-c", ENGINE_OLD, MODEL, work/"w-old"], env_old)[1].strip().splitlines()[-1]))
        eng["after: InferenceEngine.load(DIR)"].append(json.loads(run([py, "-c", ENGINE_NEW, folder], env_new)[1].strip().splitlines()[-1]))
        print(r, {k: round(v[-1]["texts_per_s"], 1) for k, v in eng.items()}, flush=True)
    med = lambda xs: statistics.median(xs)
    res = dict(
        method=("whole process of each command, alternated over rounds, median; wall = start to exit; memory = peak "
                "resident set of the child (ru_maxrss, os.wait4). Engine: texts/s of encode(2000 built-in paragraphs, "
                "truncation 128) after a 200-text warm-up, a fresh process per round."),
        machine=f"{cpu_info()['name']}, {os.cpu_count()} CPUs", python=platform.python_version(), model=MODEL,
        weights="real", lines=100, rounds=a.rounds, build_seconds=build_s, min_cosine_before_after=cos,
        runs={k: dict(wall_s=med([w for w, _ in v]), peak_mib=med([m for _, m in v]), samples=v) for k, v in rows.items()},
        engine={k: dict(texts_per_s=med([x["texts_per_s"] for x in v]), file=v[0]["file"], samples=[x["texts_per_s"] for x in v])
                for k, v in eng.items()})
    b, d = res["runs"]["run MODEL (before: through the build, warm cache)"], res["runs"]["run DIR (after: the runtime alone)"]
    res["ratios"] = dict(wall_dir_vs_before=d["wall_s"] / b["wall_s"], memory_dir_vs_before=d["peak_mib"] / b["peak_mib"],
                         engine_after_vs_before=res["engine"]["after: InferenceEngine.load(DIR)"]["texts_per_s"] /
                         res["engine"]["before: tk.engine (old code)"]["texts_per_s"])
    out = ROOT/a.out; out.mkdir(parents=True, exist_ok=True)
    (out/"folder.json").write_text(json.dumps(res, indent=1) + "\n")
    for k, v in res["runs"].items(): print(f"{k:52s} {v['wall_s']:6.2f} s {v['peak_mib']:7.0f} MiB")
    for k, v in res["engine"].items(): print(f"{k:52s} {v['texts_per_s']:7.1f} texts/s  ({v['file']})")
    print({k: round(v, 3) for k, v in res["ratios"].items()}, "| rows before/after: min cosine", round(cos, 7))
    print("saved", out/"folder.json")

if __name__ == "__main__": main()
