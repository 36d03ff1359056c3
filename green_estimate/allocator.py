"""The C allocator's state, which changes what a CPU training step costs.

PyTorch's CPU tensors come from the C library's ``malloc``. glibc serves a block at or above its
*mmap threshold* with fresh pages from the kernel, and gives the top of its heap back to the kernel
when more than the *trim threshold* (twice the mmap threshold) of it is free. Both start small
(128 KiB) and rise, once, each time the process frees an mmapped block (up to 32 MiB). A training
step allocates and frees its activations every step, so where the thresholds stand decides whether
those blocks are re-used or faulted in again, page by page, in every step:

- a long-lived process that has once freed a block near 32 MiB (as calibration does after its
  first large network) re-uses its heap: no page faults;
- a fresh process training a model whose tensors are all well under 32 MiB keeps trimming and
  re-faulting its heap. Measured on a 2-vCPU EPYC VM (``tests/benchmarks/bench_allocator.py``,
  docs/performance.md): a small ResNet's step took 11 % longer, a depthwise-separable net's 29 %.

So that calibration and the measurements set beside predictions all run in one defined state,
they call :func:`settle` before they time a CPU step: it frees one block just under 32 MiB, which
moves glibc to the state it reaches anyway once a process has freed such a block. Predictions
price that state (docs/predict.md says how to reach it in your own training). Elsewhere (another
C library, macOS, Windows) it is one allocation and does nothing more.
"""
from __future__ import annotations

# glibc raises its thresholds only for a freed mmapped block of at most 32 MiB
# (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): one just under it (with room for the chunk header and
# alignment) takes them to the highest they go.
SETTLE_BYTES = (32 << 20) - (1 << 16)


def settle(device: str = "cpu") -> None:
    """Put glibc's malloc thresholds where a long-lived PyTorch process has them (see the module doc).

    Allocates and frees one block of :data:`SETTLE_BYTES` without touching its pages: it costs an
    ``mmap`` and a ``munmap``, and calling it again changes nothing. For a step timed on another
    ``device`` than ``cpu`` (its tensors are not malloc's) it does nothing.
    """
    if device != "cpu":
        return
    import torch

    block = torch.empty(SETTLE_BYTES, dtype=torch.uint8)
    del block
