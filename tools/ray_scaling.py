"""Ray scale-out on this machine: one process (1 and 2 threads) against Ray pools of 1 and 2 single-thread workers,
same file, alternated over rounds; MiniLM with the CPU recipe (INT8). Writes results/<out>/scale.json.

    python tools/ray_scaling.py [--texts 20000] [--repeats 3] [--out results/cpu]
"""
import argparse, json, os, sys, time
from pathlib import Path
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from transformer_opt.core import MINILM_ID, builtin_corpus, cpu_info
from transformer_opt import TransformerOptimizationToolkit
from transformer_opt.scale import init_ray, scale_benchmark, scale_summary

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--texts", type=int, default=20000)
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--batch-rows", type=int, default=2048)
p.add_argument("--precision", default="int8")
p.add_argument("--out", default="results/cpu")
a = p.parse_args()
tk = TransformerOptimizationToolkit(MINILM_ID, work_dir="transformer_opt_out")
folder = tk.engine(a.precision, device="cpu", max_length=128).save(Path("transformer_opt_out")/f"ray-scaling-{a.precision}", overwrite=True)
eng = folder  # the workers (and the one-process runs) load this folder with the runtime alone
corpus = builtin_corpus(None)
texts = (corpus * (a.texts // len(corpus) + 1))[:a.texts]
t0 = time.perf_counter()
started = init_ray(num_cpus=2 if (os.cpu_count() or 2) <= 2 else None)
ray_start = time.perf_counter() - t0
res = scale_benchmark(eng, texts, repeats=a.repeats, batch_rows=a.batch_rows)
res.update(ray_start_s=ray_start, repeats=a.repeats, meta=dict(model=MINILM_ID, precision=a.precision, weights="real", max_length=128,
           machine=f"{cpu_info()['name']}, {os.cpu_count()} CPUs", python=sys.version.split()[0]))
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
(out/"scale.json").write_text(json.dumps(res, indent=1) + "\n")
print(scale_summary(res).round(2).to_string(index=False))
print("saved", out/"scale.json")
