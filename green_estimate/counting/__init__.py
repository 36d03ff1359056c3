"""The static cost counter: one training step on the meta device, op by op.

``count_step`` (in :mod:`.step`) dispatches a real forward/loss/backward/optimizer step under a
``TorchDispatchMode`` (:mod:`.mode`) and records every aten op with its phase, layer class, module,
FLOPs and bytes; :mod:`.counter` counts a whole workload (a model file or module, its inputs, the CPU
fallback). Each op's class and FLOP formula are declared together in one registry (:mod:`.registry`,
declarations in :mod:`.formulas`).
"""
from __future__ import annotations

from green_estimate.counting.report import CostReport, OpRecord

# The counter's revision, stored in every calibrated profile (``count_revision``): a profile's samples
# were counted by its revision, and a step counted otherwise may be priced unlike its fit. 2: GRUs,
# plain RNNs and packed LSTMs counted for a CPU as a CPU runs them (counting/cpu_recurrence.py).
# 3: a GroupNorm under CPU bf16/fp16 autocast counted without a cast of its input's gradient that no
# CPU runs (counting/mode.py); fp32 steps count as in revision 2.
# Profiles without the entry were counted by revision 1.
COUNT_REVISION = 3

__all__ = ["COUNT_REVISION", "CostReport", "OpRecord"]
