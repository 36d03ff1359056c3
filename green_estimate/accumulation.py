"""Gradient accumulation: one optimizer step of K micro-batches, built from one counted step.

The counter records one step: forward, loss, backward, optimizer update. With ``--grad-accum K``
an optimizer step runs K forward/backward passes and one update. From the second micro-batch on,
autograd *adds* each new gradient into ``.grad`` (``AccumulateGrad`` runs one in-place
``aten.add_`` per trainable parameter tensor: ``numel`` FLOPs, reading two gradients and writing
one); :func:`accumulation_ops` synthesises exactly those ops (a test checks them against the
counter on a real two-micro-batch step). The loss scaling by 1/K that training loops apply is a
scalar op per micro-batch and is left out.
"""
from __future__ import annotations

import dataclasses

from green_estimate.counting.report import CostReport, OpRecord
from green_estimate.errors import UsageError


def accumulation_ops(report: CostReport) -> list[OpRecord]:
    """The ops one extra micro-batch adds to the gradients: one ``aten.add_`` per trainable tensor."""
    return [OpRecord(op="aten.add_", cls="elementwise", phase="backward", module="", flops=numel,
                     bytes_read=2 * numel * size, bytes_written=numel * size)
            for numel, size in report.grad_tensors]


def optimizer_step(report: CostReport, grad_accum: int) -> CostReport:
    """The cost report of one optimizer step of ``grad_accum`` micro-batches.

    Forward and backward ops repeat ``grad_accum`` times, the accumulation adds ``grad_accum - 1``
    times, the optimizer's ops once. Free ops (views, allocations) are scaled by ``grad_accum`` —
    those of the optimizer too, an over-count of a few free dispatches per parameter tensor.
    """
    if grad_accum < 1:
        raise UsageError(f"--grad-accum {grad_accum}: must be at least 1 (micro-batches per optimizer step)")
    if grad_accum == 1:
        return report
    passes = [o for o in report.ops if o.phase != "optimizer"]
    update = [o for o in report.ops if o.phase == "optimizer"]
    ops = passes * grad_accum + accumulation_ops(report) * (grad_accum - 1) + update
    return dataclasses.replace(
        report, ops=ops, ignored_ops={k: v * grad_accum for k, v in report.ignored_ops.items()},
        notes=[*report.notes, f"One optimizer step = {grad_accum} micro-batches of {report.batch_size} "
                              f"(forward and backward ×{grad_accum}, gradient accumulation adds ×{grad_accum - 1}, "
                              "one optimizer update)."])
