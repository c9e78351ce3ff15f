"""Make Transformer encoders fast at inference: ONNX export, ONNX Runtime fusions, FP16/INT8, tuned sessions and honest benchmarks.

Modules:

- `transformer_opt.optimize`: Turn an exported encoder into a fast one with ONNX Runtime's transformer fusions, FP16 for GPUs and INT8 for CPUs, and prove it still computes the same function."""

__version__ = "0.1.0"

from .export import TransformerOptimizationToolkit
