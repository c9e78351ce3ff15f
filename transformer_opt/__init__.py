"""Make Transformer encoders fast at inference: ONNX export, ONNX Runtime fusions, FP16/INT8, tuned sessions and honest benchmarks.

Modules:

- `transformer_opt.batcher`: The inputs of all concurrent requests in one queue, cut into length-matched batches under a token budget and run on the engine's sessions through its public batch interface; and the metrics the server exposes.
- `transformer_opt.bench`: Latency percentiles, throughput, speedup, memory and accuracy per engine, batch size and sequence length, with the method written down next to every number; and the toolkit's one-call analysis.
- `transformer_opt.build`: From a model (hub id, local or sentence-transformers folder, architecture) to a self-contained engine folder: optimized and gated for the device, with everything of a sentence-transformers folder that changes the vectors, and its provenance.
- `transformer_opt.cli`: Four verbs: `transformer-opt analyze MODEL` measures every engine (fixed shapes, or a real corpus); `build` saves an engine folder; `run` encodes your own texts from a file; `serve` puts a folder behind HTTP.
- `transformer_opt.core`: The base of both halves: the errors users can catch, the checks every public function shares, atomic writes, the machine's facts (CPU features, usable CPUs, CUDA) and a built-in corpus of real English. Imports no PyTorch.
- `transformer_opt.engine`: Run an optimized model on your own texts with numpy, ONNX Runtime and tokenizers alone: an engine folder loaded and checked, length-sorted batches under a token budget, pooling as sentence-transformers does it, results in input order, from Python or from files of any size.
- `transformer_opt.export`: Export an encoder to a validated ONNX file, with dynamic batch and sequence axes, at any opset from 12 to 18; files written atomically, with their provenance inside, and reused only when it matches.
- `transformer_opt.folder`: `engine.json` and the files beside it: what a folder says, each file hashed, checked before any work, written whole or not at all, and packed into one object for Ray workers. NumPy and the standard library; no PyTorch.
- `transformer_opt.models`: Load a text encoder (BERT, DistilBERT, RoBERTa, XLM-R, MPNet, DeBERTa-v3, ModernBERT or ELECTRA) by hub id, local folder or architecture alone, and build its inputs: the start of the build half (PyTorch and transformers).
- `transformer_opt.optimize`: Turn an exported encoder into a fast one with ONNX Runtime's transformer fusions, FP16 for GPUs and INT8 for CPUs, and prove it still computes the same function.
- `transformer_opt.scale`: Corpora that outgrow one machine: Ray Data reads the files, Ray workers run the optimized engine, Parquet comes out with an id per input. The same call runs on a laptop (a local Ray) and on a cluster of GPU nodes.
- `transformer_opt.serve`: `transformer-opt serve DIR`: the engine folder behind TEI's and OpenAI's routes, with the inputs of all concurrent requests batched together under a token budget, limits on every input, Prometheus metrics and a graceful drain.
- `transformer_opt.serve_ray`: `transformer-opt serve DIR --ray`: the server of `05a_serve` split as text-embeddings-inference splits its router from its backends: ingress replicas own HTTP, limits, tokenization, the queue and batching; engine replicas take token batches through Ray Serve handles and return rows, so Ray's cost is paid once per batch. One limit on inputs in flight for the whole service; a replica that dies is replaced, and the batches it held are sent again.
- `transformer_opt.session`: Create ONNX Runtime sessions that run where you asked (nodes placed on the CPU inside a CUDA session are found and named), and a runner with plain, IO-binding and CUDA-graph modes that refuses bad inputs before ONNX Runtime sees them.
- `transformer_opt.textio`: Texts from files of lines or JSON lines, streamed and checked line by line; rows written to a `.npy` file whose length is not known in advance; and the reports every run gives (texts/s, real tokens/s, what was skipped).
- `transformer_opt.toolkit`: `TransformerOptimizationToolkit`: one object for the whole build half, whose methods are the stage functions of `01_export` to `06_bench`, bound by name.
- `transformer_opt.viz`: Speedup, throughput, latency, memory and the latency-throughput frontier, drawn from a results JSON, and texts/s over a real corpus; each chart names its device, model and weights, so a figure never travels without its provenance."""

__version__ = "0.1.0"

import importlib

BUILD_STAGES = ("export", "optimize", "build", "bench", "toolkit")  # the build half; `toolkit` binds the others' stages as methods

def __getattr__(name):
    "The build half loads on first use, so that `import transformer_opt` (and the runtime) needs no PyTorch."
    if name == "TransformerOptimizationToolkit": return importlib.import_module(f"{__name__}.toolkit").TransformerOptimizationToolkit
    if name in ("core", "models", "session", "folder", "textio", "engine", "scale", "cli", "viz", *BUILD_STAGES):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["TransformerOptimizationToolkit", "optimize", "session", "bench"]
