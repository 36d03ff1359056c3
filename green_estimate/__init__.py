"""green-estimate: the energy of training a PyTorch model, predicted before it runs.

The Python API (docs/api.md)::

    import green_estimate as ge
    ge.count(model, example_input)                       # -> CostReport, .to_dict() is cost@1
    ge.predict(model, ge.TrainingPlan(batch_size=64, epochs=10, samples=50_000))  # -> Prediction

``count``, ``predict``, ``TrainingPlan``, ``PredictSettings``, ``CostReport`` and ``Prediction`` are imported on first use
(module ``__getattr__``), so ``import green_estimate`` stays cheap and imports no torch.

``green_estimate.predict`` is the function. The module of the same name (``green_estimate/predict.py``)
is still importable as ``from green_estimate.predict import ...``; importing it does not replace the
function on the package (see :class:`_Package`).
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
FLOP_CONVENTION = "2 FLOPs per multiply-accumulate"

# public name -> the module that defines it (imported on first access)
_LAZY = {
    "count": "green_estimate.api",
    "predict": "green_estimate.api",
    "TrainingPlan": "green_estimate.training_plan",
    "Prediction": "green_estimate.prediction",
    "PredictSettings": "green_estimate.predict",
    "CostReport": "green_estimate.counting.report",
    "GreenEstimateError": "green_estimate.errors",
}

__all__ = ["__version__", "FLOP_CONVENTION", *_LAZY]

if TYPE_CHECKING:
    from green_estimate.api import count, predict
    from green_estimate.counting.report import CostReport
    from green_estimate.errors import GreenEstimateError
    from green_estimate.predict import PredictSettings
    from green_estimate.prediction import Prediction
    from green_estimate.training_plan import TrainingPlan


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # next time without __getattr__ (_Package keeps the submodule from replacing it)
        return value
    raise AttributeError(f"module 'green_estimate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(ModuleType):
    """The package's module type: importing the submodule ``green_estimate.predict`` would otherwise
    set the package attribute ``predict`` to that module (what Python does for every submodule), and
    ``green_estimate.predict(model, plan)`` would stop being the API function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "predict" and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
