"""Which fused-Attention kernel ONNX Runtime runs on this GPU, and how fast, for each mask format and kernel choice.

    python tools/attention_sweep.py --device cuda --out results/h100/attention.json
    python tools/attention_sweep.py --device cpu --batch-sizes 1 2 --iters 3 --out /tmp/attention.json   # dry run

For each attention mask format the ONNX Runtime optimizer can emit (a 1-D mask index, the raw 2-D mask) and each
kernel setting (ONNX Runtime's default choice, and each of flash, memory-efficient, cuDNN and the unfused "math"
path forced through ORT's environment switches), it builds the fused FP16 model (FP32 on a CPU dry run), runs
batch 1, 32 and 256 at sequence 128 in a fresh process with ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO=1, records the
kernel ONNX Runtime reports, the p50 latency of `--iters` timed calls after warm-up, and the cosine against the
PyTorch model, and writes everything to one JSON file, with the fastest correct setting per batch size."""
import argparse, json, os, re, subprocess, sys
from pathlib import Path

SETTINGS = {  # ORT's environment switches for the fused Attention op's kernels (onnxruntime/contrib_ops/cuda/bert)
    "default": {},
    "flash": {"ORT_DISABLE_MEMORY_EFFICIENT_ATTENTION": "1", "ORT_DISABLE_FUSED_ATTENTION": "1"},
    "memory-efficient": {"ORT_DISABLE_FLASH_ATTENTION": "1", "ORT_DISABLE_FUSED_ATTENTION": "1"},
    "cudnn": {"ORT_ENABLE_CUDNN_FLASH_ATTENTION": "1", "ORT_DISABLE_FLASH_ATTENTION": "1",
              "ORT_DISABLE_MEMORY_EFFICIENT_ATTENTION": "1"},
    "math": {"ORT_DISABLE_FLASH_ATTENTION": "1", "ORT_DISABLE_MEMORY_EFFICIENT_ATTENTION": "1",
             "ORT_DISABLE_FUSED_ATTENTION": "1", "ORT_DISABLE_TRT_FLASH_ATTENTION": "1"},
}
MASKS = ("mask_index_end", "raw_mask")

CHILD = r'''
import json, sys, time, numpy as np, torch
from transformer_opt import TransformerOptimizationToolkit
from transformer_opt.optimize import apply_fusions, to_fp16
from transformer_opt.session import Runner
from transformer_opt.models import random_inputs, torch_forward
a = json.loads(sys.argv[1])
tk = TransformerOptimizationToolkit(a["model"], pretrained=False, work_dir=a["work"])
src = tk.export_onnx()
fused = tk.work_dir/f"fused-{a['mask']}.onnx"
apply_fusions(src, fused, tk.config, use_gpu=a["device"] == "cuda", attention_mask_format=a["mask"])
path = to_fp16(fused, tk.work_dir/f"fp16-{a['mask']}.onnx") if a["device"] == "cuda" else fused
r = Runner(path, device=a["device"], mode="iobinding" if a["device"] == "cuda" else "plain", cpu_nodes="warn")
out = {}
for b in a["batch_sizes"]:
    x = random_inputs(tk.config, b, a["seq_len"]); x["attention_mask"][0, a["seq_len"] // 2:] = 0
    ref = torch_forward(tk.model, x)
    feed = r.buffers(b, a["seq_len"]) if r.mode != "plain" else x
    if r.mode != "plain":
        for k in feed: feed[k].update_inplace(x[k].numpy())
    y = r(feed); y = y if isinstance(y, np.ndarray) else y.numpy().astype(np.float32)  # an OrtValue on the GPU
    m = x["attention_mask"].numpy().astype(bool)
    cos = float(np.min((y[m] * ref[m]).sum(-1) / (np.linalg.norm(y[m], axis=-1) * np.linalg.norm(ref[m], axis=-1))))
    for _ in range(a["warmup"]): r(feed)
    ts = []
    for _ in range(a["iters"]):
        t0 = time.perf_counter(); r(feed)
        if a["device"] == "cuda": torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1e3)
    out[b] = dict(p50_ms=float(np.median(ts)), cosine_min=cos)
print("@@" + json.dumps(out))
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--model", default="distilbert-base-uncased")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--work", default="transformer_opt_out/attention")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    rows = []
    for mask in MASKS:
        for name, env in (SETTINGS.items() if a.device == "cuda" else [("default", {})]):
            spec = dict(model=a.model, work=a.work, mask=mask, device=a.device, batch_sizes=a.batch_sizes,
                        seq_len=a.seq_len, iters=a.iters, warmup=a.warmup)
            e = {**os.environ, **env, "ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO": "1", "HF_HUB_OFFLINE": "1"}
            p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, env=e)
            line = next((l for l in p.stdout.splitlines() if l.startswith("@@")), None)
            kernels = sorted(set(re.findall(r"(?i)(?:kernel|AttentionKernel)[^\n]{0,80}", p.stdout + p.stderr)))[:10]
            res = json.loads(line[2:]) if line else {}
            for b in a.batch_sizes:
                r = res.get(str(b), {})
                rows.append(dict(mask_format=mask, setting=name, batch_size=b, seq_len=a.seq_len, kernels=kernels,
                                 p50_ms=r.get("p50_ms"), cosine_min=r.get("cosine_min"),
                                 error=None if line else (p.stderr.strip().splitlines() or ["no output"])[-1][:300]))
            print(mask, name, {b: res.get(str(b)) for b in a.batch_sizes} if line else rows[-1]["error"], flush=True)
    best = {}
    for b in a.batch_sizes:
        ok = [r for r in rows if r["batch_size"] == b and r["p50_ms"] and (r["cosine_min"] or 0) >= 0.999]
        if ok: best[b] = min(ok, key=lambda r: r["p50_ms"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(rows=rows, fastest_correct=best), indent=1))
    print("fastest correct:", {b: (r["mask_format"], r["setting"], r["p50_ms"]) for b, r in best.items()})
    return 0 if best else 1

if __name__ == "__main__": sys.exit(main())
