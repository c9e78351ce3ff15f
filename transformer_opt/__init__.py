"""Make Transformer encoders fast at inference: ONNX export, ONNX Runtime fusions, FP16/INT8, tuned sessions and honest benchmarks.

Modules:

- `transformer_opt.bench`: Latency percentiles, throughput, speedup, memory and accuracy per engine, batch size and sequence length, with the method written down next to every number; and the toolkit's one-call analysis.
- `transformer_opt.cli`: `transformer-opt analyze MODEL` measures every engine (fixed shapes, or a real corpus); `transformer-opt run MODEL` encodes your own texts from a file.
- `transformer_opt.engine`: Run the optimized model on your own texts: length-sorted batches under a token budget, padding per batch, pooling as sentence-transformers does it, results in input order, from Python or from files of any size.
- `transformer_opt.optimize`: Turn an exported encoder into a fast one with ONNX Runtime's transformer fusions, FP16 for GPUs and INT8 for CPUs, and prove it still computes the same function."""

__version__ = "0.1.0"

from .export import TransformerOptimizationToolkit
from . import optimize, session, bench  # each adds its stage to the toolkit (tk.optimize, tk.run_full_analysis)

__all__ = ["TransformerOptimizationToolkit", "optimize", "session", "bench"]
