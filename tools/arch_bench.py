"""Fusion, per architecture, in one run: the plain FP32 export against the fused file of every architecture the
toolkit builds offline (`ARCHITECTURES`), at two layers with random weights (`random_model_folder`).

For each architecture, on this machine and in this one process:
* fixed shapes: `bench.benchmark` with the engines `ort-fp32` (plain export, ONNX Runtime's own session-time fusions)
  and `ort-fp32-fused` (our offline fusion), random token ids, batch 1 and 32 at sequence 128: the p50 of 20 timed calls
  per shape, in 3 runs of the harness one after another, and the median of the three p50s (in single runs the batch-1
  ratio of one architecture moved by 20% from one run to the next);
* real text: the runtime `InferenceEngine` on each file over the built-in corpus (length-sorted token-budget batches),
  best of `--repeats` passes, interleaved so both files see the same machine.
Ratios are fused over plain. Random weights: speed only; the FP32 gate of each fused file is in 02_optimize.

    python tools/arch_bench.py --out results/cpu-vnni   # about 20 minutes on 2 cores
"""
import argparse, json, os, time, warnings
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/cpu", help="folder for architectures.json / .csv / .md")
    ap.add_argument("--work-dir", default="transformer_opt_out/architectures")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--texts", type=int, default=500, help="corpus texts per pass")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20, help="timed calls per shape and round (the harness stops a shape at 30 s)")
    ap.add_argument("--rounds", type=int, default=3, help="benchmark runs per architecture; the median of each engine's p50s is kept")
    ap.add_argument("--only", nargs="*", help="architecture names (default: all of ARCHITECTURES)")
    a = ap.parse_args()
    import numpy as np, pandas as pd
    from transformer_opt.core import builtin_corpus, cpu_kind, default_threads
    from transformer_opt.models import ARCHITECTURES
    from transformer_opt.toolkit import TransformerOptimizationToolkit
    from transformer_opt.optimize import random_model_folder
    from transformer_opt.bench import benchmark
    from transformer_opt.engine import InferenceEngine
    texts, work, rows = builtin_corpus(a.texts), Path(a.work_dir), []
    for name in a.only or list(ARCHITECTURES):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folder = random_model_folder(name, work/name.replace("/", "--")/"model", layers=a.layers)
            tk = TransformerOptimizationToolkit(str(folder), work_dir=work/name.replace("/", "--"))
            runs = [benchmark(tk, engines=["ort-fp32", "ort-fp32-fused"], batch_sizes=(1, 32), seq_lens=(128,),
                              memory=False, progress=False, iters=a.iters) for _ in range(a.rounds)]
        res, p50s = runs[0], {}
        for run in runs:
            for r in run.rows:
                if r.get("latency_p50_ms"): p50s.setdefault((r["engine"], r["batch_size"]), []).append(r["latency_p50_ms"])
        p50 = {k: float(np.median(v)) for k, v in p50s.items()}
        files = dict(plain=tk.optimize("fp32", fuse=False), fused=tk.optimize("fp32", fuse=True))
        engines = {k: InferenceEngine(p, folder, device="cpu") for k, p in files.items()}
        best = {k: float("inf") for k in engines}
        for _ in range(a.repeats):
            for k, e in engines.items():
                t = time.perf_counter(); e.encode(texts); best[k] = min(best[k], time.perf_counter() - t)
        row = dict(architecture=name, model_type=tk.config.model_type, fusion=res.meta.get("fusion", {}),
                   **{f"plain_b{b}_ms": p50.get(("ort-fp32", b)) for b in (1, 32)},
                   **{f"fused_b{b}_ms": p50.get(("ort-fp32-fused", b)) for b in (1, 32)},
                   plain_texts_per_s=len(texts) / best["plain"], fused_texts_per_s=len(texts) / best["fused"])
        for b in (1, 32):
            if row[f"plain_b{b}_ms"] and row[f"fused_b{b}_ms"]: row[f"x_b{b}"] = row[f"plain_b{b}_ms"] / row[f"fused_b{b}_ms"]
        row["x_corpus"] = row["fused_texts_per_s"] / row["plain_texts_per_s"]
        rows.append(row)
        print(f"{name}: fused/plain b1 {row.get('x_b1', float('nan')):.2f}x, b32 {row.get('x_b32', float('nan')):.2f}x, "
              f"corpus {row['x_corpus']:.2f}x  ({row['fusion']})", flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    meta = dict(what=__doc__.split("\n\n")[0], layers=a.layers, weights="random (initializer_range=0.2)",
                texts=len(texts), repeats=a.repeats, iters=a.iters, rounds=a.rounds, cpu_kind=cpu_kind(), cores=os.cpu_count(), threads=default_threads(),
                sequence=128, batch_sizes=[1, 32], created=time.strftime("%Y-%m-%d %H:%M"))
    (out/"architectures.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    df = pd.DataFrame(rows)
    df.drop(columns=["fusion"]).to_csv(out/"architectures.csv", index=False)
    md = ["| architecture | attention fused as | fused / plain, batch 1 | batch 32 | corpus (texts/s) |", "|---|---|---|---|---|"]
    for r in rows:
        att = ", ".join(f"{k} {v}" for k, v in r["fusion"].items() if k in ("Attention", "MultiHeadAttention") and v) or "none"
        md.append(f"| {r['architecture']} ({r['model_type']}) | {att} | {r.get('x_b1', float('nan')):.2f}x | "
                  f"{r.get('x_b32', float('nan')):.2f}x | {r['x_corpus']:.2f}x |")
    (out/"architectures.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))

if __name__ == "__main__": main()
