"""Make Transformer encoders fast at inference: ONNX export, ONNX Runtime fusions, FP16/INT8, tuned sessions and honest benchmarks.

Modules:

- `transformer_opt.bench`: Latency percentiles, throughput, speedup, memory and accuracy per engine, batch size and sequence length, with the method written down next to every number; and the toolkit's one-call analysis.
- `transformer_opt.cli`: `transformer-opt analyze MODEL` measures every engine (fixed shapes, or a real corpus); `transformer-opt run MODEL` encodes your own texts from a file.
- `transformer_opt.core`: Load a BERT-family encoder by hub id, local folder or architecture alone, and build its inputs; the checks every public function shares, the machine's facts (CPU features, CUDA, devices) and a built-in corpus of real English.
- `transformer_opt.engine`: Run the optimized model on your own texts: length-sorted batches under a token budget, padding per batch, pooling as sentence-transformers does it, results in input order, from Python or from files of any size.
- `transformer_opt.export`: Export an encoder to a validated ONNX file, with dynamic batch and sequence axes, at any opset from 12 to 18; files written atomically, with their provenance inside, and reused only when it matches.
- `transformer_opt.optimize`: Turn an exported encoder into a fast one with ONNX Runtime's transformer fusions, FP16 for GPUs and INT8 for CPUs, and prove it still computes the same function.
- `transformer_opt.scale`: Corpora that outgrow one machine: Ray Data reads the files, a pool of workers runs the optimized engine, Parquet comes out with an id per input. The same call runs on a laptop (a local Ray) and on a cluster of GPU nodes.
- `transformer_opt.session`: Create ONNX Runtime sessions that run where you asked (nodes placed on the CPU inside a CUDA session are found and named), and a runner with plain, IO-binding and CUDA-graph modes that refuses bad inputs before ONNX Runtime sees them.
- `transformer_opt.viz`: Speedup, throughput, latency, memory and the latency-throughput frontier, drawn from a results JSON, and texts/s over a real corpus; each chart names its device, model and weights, so a figure never travels without its provenance."""

__version__ = "0.1.0"

from .export import TransformerOptimizationToolkit
from . import optimize, session, bench  # each adds its stage to the toolkit (tk.optimize, tk.run_full_analysis)

__all__ = ["TransformerOptimizationToolkit", "optimize", "session", "bench"]
