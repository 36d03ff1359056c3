"""green-estimate: the energy of training a PyTorch model, predicted before it runs."""
from __future__ import annotations

__version__ = "0.1.0"
FLOP_CONVENTION = "2 FLOPs per multiply-accumulate"
