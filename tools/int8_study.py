"""What keeps dynamic INT8 accurate: the table in 02_optimize's "Keeping INT8 accurate", measured on this machine.

Real MiniLM-L6 weights; the gate's 300 corpus texts as queries among 1,000 (`corpus_split`); each variant against the
fused FP32 file: worst text's cosine, recall@10, and speed (one warm-up over 64 texts, then one timed pass over the
1,000, tokenization included). One run; timings vary ~10% between runs on a shared 2-core machine.

    python tools/int8_study.py [--out results/cpu/int8_study.json]
"""
import argparse, json, time, warnings
import numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper

def per_token(src, dst):
    "Every MatMul with a constant weight as per-token INT8: activations scaled by their row's max |x|, weights per column."
    from onnxruntime.transformers.onnx_model import OnnxModel
    m = onnx.load(src); inits = {t.name: t for t in m.graph.initializer}; nodes, extra = [], []
    const = lambda v, name: extra.append(numpy_helper.from_array(np.asarray(v), name)) or name
    for n in m.graph.node:
        if not (n.op_type == "MatMul" and n.input[1] in inits): nodes.append(n); continue
        W = numpy_helper.to_array(inits[n.input[1]]); ws = np.maximum(np.abs(W).max(0) / 127, 1e-12)
        p, x = n.name + "_pt", n.input[0]
        wq = const(np.clip(np.round(W / ws), -127, 127).astype(np.int8), p + "_wq")
        mk = lambda op, ins, out, **kw: nodes.append(helper.make_node(op, ins, [out], **kw)) or out
        s = mk("Max", [mk("Mul", [mk("ReduceMax", [mk("Abs", [x], p + "_abs")], p + "_rmax", axes=[-1], keepdims=1),
                                  const(np.float32(1 / 127), p + "_i127")], p + "_s0"), const(np.float32(1e-8), p + "_eps")], p + "_s")
        u8 = mk("Cast", [mk("Add", [mk("Round", [mk("Div", [x, s], p + "_d")], p + "_r"), const(np.float32(128), p + "_128")], p + "_a")],
                p + "_u8", to=TensorProto.UINT8)
        y = mk("Cast", [mk("MatMulInteger", [u8, wq, const(np.uint8(128), p + "_zp")], p + "_i32")], p + "_f", to=TensorProto.FLOAT)
        mk("Mul", [mk("Mul", [y, s], p + "_m"), const(ws.astype(np.float32), p + "_ws")], n.output[0])
    del m.graph.node[:]; m.graph.node.extend(nodes); m.graph.initializer.extend(extra)
    om = OnnxModel(m); om.prune_graph(); om.topological_sort(); onnx.save(om.model, dst); return dst

def smoothquant(src, dst, tokenizer, texts, alpha):
    "SmoothQuant: a Mul by 1/s before each MatMul/Attention input, s folded into the weights' rows (s from calibration)."
    import onnxruntime as ort
    from onnxruntime.transformers.onnx_model import OnnxModel
    m = onnx.load(src); inits = {t.name: t for t in m.graph.initializer}
    targets = [n for n in m.graph.node if (n.op_type == "MatMul" and n.input[1] in inits) or n.op_type == "Attention"]
    xs = sorted({n.input[0] for n in targets}); cal = onnx.load(src)
    for x in xs: cal.graph.output.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(cal.SerializeToString(), providers=["CPUExecutionProvider"])
    names, amax = [o.name for o in sess.get_outputs()], {}
    for i in range(0, len(texts), 16):
        enc = tokenizer(texts[i:i + 16], padding=True, truncation=True, max_length=128, return_tensors="np")
        feed = {k.name: enc[k.name].astype(np.int64) if k.name in enc else np.zeros_like(enc["input_ids"], np.int64) for k in sess.get_inputs()}
        keep = enc["attention_mask"].astype(bool)
        for nm, o in zip(names, sess.run(None, feed)):
            if nm in xs: amax[nm] = np.maximum(amax.get(nm, 0), np.abs(o[keep]).max(0))
    for x in xs:
        cons = [n for n in targets if n.input[0] == x]; W = [numpy_helper.to_array(inits[n.input[1]]) for n in cons]
        s = np.clip(amax[x] ** alpha / np.maximum(np.max([np.abs(w).max(1) for w in W], 0), 1e-5) ** (1 - alpha), 1e-2, 1e3).astype(np.float32)
        m.graph.initializer.append(numpy_helper.from_array(1 / s, x + "_sq_inv"))
        m.graph.node.append(helper.make_node("Mul", [x, x + "_sq_inv"], [x + "_sq"]))
        for n, w in zip(cons, W):
            inits[n.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), n.input[1])); n.input[0] = x + "_sq"
    om = OnnxModel(m); om.topological_sort(); onnx.save(om.model, dst); return dst

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument("--out", default=None)
    ap.add_argument("--work-dir", default="transformer_opt_out/int8-study"); args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from transformer_opt import TransformerOptimizationToolkit
    from transformer_opt.core import MINILM_ID, cpu_info, cpu_kind
    from transformer_opt.engine import InferenceEngine
    from transformer_opt.core import row_cosines
    from transformer_opt.optimize import corpus_split, plan_int8, quantize_int8, recall_at_k
    tk = TransformerOptimizationToolkit(MINILM_ID, work_dir=args.work_dir); wd = tk.work_dir
    fp32 = str(tk.optimize("fp32", fuse=True, device="cpu"))
    parts = corpus_split(); texts = parts["gate"] + parts["neighbours"]
    def run(path, session=None):
        e = InferenceEngine(path, tk.tokenizer, device="cpu", max_length=128, session=session)
        e.encode(texts[:64]); t0 = time.perf_counter(); y = e.encode(texts); return y, time.perf_counter() - t0
    ref, t32 = run(fp32)
    plan = plan_int8(fp32, wd/"plan.onnx", tk.tokenizer, target=0.995, recall=None)
    variants = {"all INT8 (per-channel weights)": (quantize_int8(fp32, wd/"all.onnx"), None),
                "all INT8, reduce_range": (quantize_int8(fp32, wd/"rr.onnx", reduce_range=True), None),
                "all INT8, x64quantprecision off": (wd/"all.onnx", {"session.x64quantprecision": "0"}),
                "post-GELU projections FP32": (quantize_int8(fp32, wd/"ffn.onnx", keep_fp32="ffn-output"), None),
                f"plan_int8 (target 0.995): {len(plan.kept)} nodes FP32": (wd/"plan.onnx", None),
                "per-token activation scales": (per_token(fp32, str(wd/"pt.onnx")), None)}
    for a in (0.5, 0.75):
        sq = smoothquant(fp32, str(wd/f"sq{a}.onnx"), tk.tokenizer, parts["select"][:200], a)
        variants[f"SmoothQuant alpha {a}, then all INT8"] = (quantize_int8(sq, wd/f"sq{a}-int8.onnx"), None)
    rows = []
    for name, (path, session) in variants.items():
        y, t = run(path, session); c = row_cosines(ref, y)[:300]
        rows.append(dict(variant=name, cosine_min=round(float(c.min()), 4), cosine_mean=round(float(c.mean()), 5),
                         recall_at_10=round(recall_at_k(ref, y, 300), 3), speed_vs_fp32=round(t32 / t, 2)))
        print(rows[-1], flush=True)
    if args.out:
        meta = dict(cpu=cpu_info()["name"], kind=cpu_kind(), texts=len(texts), queries=300, method=__doc__.split("\n\n")[1])
        with open(args.out, "w") as f: json.dump(dict(meta=meta, rows=rows), f, indent=1)

if __name__ == "__main__": main()
