"""Where an ONNX file's time goes: ONNX Runtime's profiler over a few calls, summed per operator type.

    python tools/op_profile.py plain.onnx fused.onnx --batch 32 --seq 128 --out results/cpu-vnni/op_profile.json

Random token ids, the CPU provider with `--threads` intra-op threads (default: ONNX Runtime's), `--runs` profiled calls
after 3 untimed ones. Kernel times only (the profiler's `*_kernel_time` events), so the shares leave out the
session's own overhead between kernels.
"""
import argparse, collections, json, os, tempfile
from pathlib import Path
import numpy as np

def profile(path, batch, seq, runs, threads):
    import onnxruntime as ort
    so = ort.SessionOptions(); so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp())/"prof")
    if threads: so.intra_op_num_threads = threads
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = {i.name: (rng.integers(1000, 30000, (batch, seq)) if i.name == "input_ids" else
                  np.ones((batch, seq)) if i.name == "attention_mask" else np.zeros((batch, seq))).astype(np.int64)
         for i in s.get_inputs()}
    for _ in range(3): s.run(None, x)
    for _ in range(runs): s.run(None, x)
    f = s.end_profiling()
    events = json.loads(Path(f).read_text()); os.remove(f)
    per_op, total = collections.Counter(), 0
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]; total += e["dur"]
    # the first 3 calls are in the trace too: scale to per call over all calls
    calls = runs + 3
    return dict(file=str(path), ms_per_call=total / calls / 1000,
                share={k: round(v / total, 4) for k, v in per_op.most_common()})

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="a JSON file to write (default: print only)")
    a = ap.parse_args()
    res = [profile(f, a.batch, a.seq, a.runs, a.threads) for f in a.files]
    for r in res:
        print(f"{r['file']}: {r['ms_per_call']:.1f} ms per call (kernels)")
        for k, v in list(r["share"].items())[:10]: print(f"  {k:28s} {v:6.1%}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(dict(batch=a.batch, seq=a.seq, runs=a.runs, threads=a.threads, files=res), indent=1))

if __name__ == "__main__": main()
