"""Stage two of the fit: whole training steps correct the per-class microbenchmark models.

A microbenchmark repeats one op on the same tensors: its caches stay hot and the allocator settles.
In a real step the same op reads activations written long before and allocates among many other
tensors, and the step adds its own Python work (``zero_grad``, the loss, the optimizer's loop).
The ``step`` cases measure whole training steps of seeded random networks; here their measured
cost is fitted as

    y_step = const + Σ_c k_c · p_c + Σ_rest p_c

where ``p_c`` is class ``c``'s cost predicted by its stage-one model from the step's own op records,
``k_c`` an in-context scale per major class, and ``const`` the per-step overhead. WLS with weights
``1/y²`` (relative error), k-fold cross-validated; a class whose scale comes out negative is
returned to the fixed part (``k = 1``).
"""
from __future__ import annotations

from typing import Any

from green_estimate.counting.report import OpRecord
from green_estimate.features import feature_vector

MIN_MEAN_SHARE = 0.03  # classes below this mean share of step cost keep k = 1


def _class_costs(sample: dict, classes: dict, target: str, default: str) -> dict[str, float]:
    groups: dict[str, list[OpRecord]] = {}
    for o in sample["ops"]:
        groups.setdefault(o["cls"], []).append(OpRecord(o["op"], o["cls"], "", "", int(o["flops"]), int(o["bytes"]), 0,
                                                        True, int(o.get("outputs", 1))))
    out = {}
    for cls, ops in groups.items():
        entry = classes.get(cls) or classes[default]
        m = entry[target]
        out[cls] = sum(p * x for p, x in zip(m["params"], feature_vector(ops, m["features"])))
    return out


def _fit(target: Any, X: Any, y: Any) -> Any:
    """WLS of ``target`` (the step minus its fixed part) on ``X``, weighted by the whole step ``y``
    so that the *step's* relative error is minimised."""
    import warnings

    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.WLS(target, X, weights=1.0 / y**2).fit()


def fit_step_model(samples: list[dict], classes: dict, default: str = "elementwise", folds: int = 5) -> dict | None:
    """The stage-two model from the ``step`` samples, or ``None`` when there are too few."""
    import numpy as np

    steps = [s for s in samples if s.get("kind") == "step" and s["time_s"] > 0]
    if len(steps) < 6 or default not in classes:
        return None
    out: dict = {"n_samples": len(steps), "classes": {}, "const": {}, "cov": {}, "resid_rel_sd": {}, "cv": {}}
    for target in ("time_s", "energy_j"):
        costs = [_class_costs(s, classes, target, default) for s in steps]
        y = np.array([s[target] for s in steps], dtype=float)
        names = sorted({c for cc in costs for c in cc})
        shares = {c: float(np.mean([cc.get(c, 0.0) / max(sum(cc.values()), 1e-30) for cc in costs])) for c in names}
        fitted = [c for c in names if shares[c] >= MIN_MEAN_SHARE]
        rest = np.zeros(len(y))
        with_const = True
        while True:
            if not fitted and not with_const:
                return None  # nothing left to fit: predictions use the stage-one models alone
            rest = np.array([sum(v for c, v in cc.items() if c not in fitted) for cc in costs])
            cols = ([np.ones(len(steps))] if with_const else []) + [[cc.get(c, 0.0) for cc in costs] for c in fitted]
            X = np.column_stack(cols) if cols else np.zeros((len(steps), 0))
            res = _fit(y - rest, X, y)
            scales = res.params[1:] if with_const else res.params
            neg = [c for c, k in zip(fitted, scales) if k <= 0]
            if neg:  # a class that comes out free or negative keeps its stage-one cost (k = 1)
                fitted = [c for c in fitted if c not in neg]
            elif with_const and res.params[0] < 0:
                with_const = False  # a negative per-step constant is not physical: refit without it
            else:
                break
        # cross-validation of the whole-step prediction
        order = np.random.default_rng(0).permutation(len(y))
        pred = np.empty(len(y))
        k = max(2, min(folds, len(y)))
        for f in range(k):
            test = order[f::k]
            train = np.setdiff1d(order, test)
            r = _fit((y - rest)[train], X[train], y[train])
            pred[test] = X[test] @ r.params + rest[test]
        ape = np.abs(pred - y) / y
        params = list(res.params)
        const = params.pop(0) if with_const else 0.0
        names_cov = (["const"] if with_const else []) + fitted
        out["classes"][target] = {c: float(v) for c, v in zip(fitted, params)}
        out["const"][target] = float(const)
        out["cov"][target] = {"names": names_cov,
                              "matrix": [[float(v) for v in row] for row in np.atleast_2d(res.cov_params())]}
        out["resid_rel_sd"][target] = float(np.sqrt(res.scale))
        out["cv"][target] = {"median_ape": float(np.median(ape)), "within_10pct": float(np.mean(ape <= 0.10)),
                             "within_15pct": float(np.mean(ape <= 0.15)), "folds": k}
    return out
