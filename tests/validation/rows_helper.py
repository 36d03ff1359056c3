"""Hand-built trial rows for the summary and claim tests."""
from __future__ import annotations

from green_estimate.validation.models import architecture_label
from green_estimate.validation.rows import TrialRow


def row(strategy: str = "grid", trial: int = 0, *, acc: float = 0.5, meas_j: float = 10.0, pred_j: float = 10.0,
        band: float = 0.2, meas_s: float = 1.0, pred_s: float = 1.0, family: str = "dense_poly", conv_blocks: int = 0,
        linear_layers: int = 3, relu: bool = False, by_class: dict | None = None, steps: int = 10,
        pace: float | None = None) -> TrialRow:
    arch = {"family": family, "conv_blocks": conv_blocks, "linear_layers": linear_layers, "relu": relu}
    return TrialRow(
        strategy=strategy, trial=trial, params={"lr": 0.01, "beta1": 0.9, "beta2": 0.99, **arch}, arch=arch,
        architecture=architecture_label(arch), n_params=100, epochs=1, batch_size=8, steps=steps,
        pred_energy_j=pred_j, pred_energy_j_low=pred_j * (1 - band), pred_energy_j_high=pred_j * (1 + band),
        meas_energy_j=meas_j, pred_time_s=pred_s, pred_time_s_low=pred_s * (1 - band), pred_time_s_high=pred_s * (1 + band),
        meas_time_s=meas_s, accuracy=acc, meter="tick", provenance="measured", pred_by_class_j_per_step=by_class or {},
        machine_pace=pace,
    )
