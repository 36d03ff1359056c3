"""The static cost counter: one training step on the meta device, op by op.

``count_step`` (in :mod:`.counter`) dispatches a real forward/loss/backward/optimizer step under a
``TorchDispatchMode`` and records every aten op with its phase, layer class, module, FLOPs and bytes.
"""
from __future__ import annotations

from green_estimate.counting.report import CostReport, OpRecord

__all__ = ["CostReport", "OpRecord"]
