__version__ = "0.1.0"

from .export import TransformerOptimizationToolkit
