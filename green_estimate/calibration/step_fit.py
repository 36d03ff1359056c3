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


def _fit(y: Any, X: Any) -> Any:
    import statsmodels.api as sm

    return sm.WLS(y, X, weights=1.0 / y**2).fit()


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
        while True:
            rest = np.array([sum(v for c, v in cc.items() if c not in fitted) for cc in costs])
            X = np.column_stack([np.ones(len(steps))] + [[cc.get(c, 0.0) for cc in costs] for c in fitted])
            res = _fit(y - rest if np.all(y - rest > 0) else y, X)
            neg = [c for c, k in zip(fitted, res.params[1:]) if k <= 0]
            if not neg and res.params[0] >= 0:
                break
            if neg:
                fitted = [c for c in fitted if c not in neg]
            else:  # a negative per-step constant: drop it by fitting through the origin
                break
        # cross-validation of the whole-step prediction
        order = np.random.default_rng(0).permutation(len(y))
        pred = np.empty(len(y))
        k = max(2, min(folds, len(y)))
        for f in range(k):
            test = order[f::k]
            train = np.setdiff1d(order, test)
            r = _fit((y - rest)[train], X[train])
            pred[test] = X[test] @ r.params + rest[test]
        ape = np.abs(pred - y) / y
        out["classes"][target] = {c: float(v) for c, v in zip(fitted, res.params[1:])}
        out["const"][target] = float(max(res.params[0], 0.0))
        out["cov"][target] = {"names": ["const", *fitted], "matrix": [[float(v) for v in row] for row in np.atleast_2d(res.cov_params())]}
        out["resid_rel_sd"][target] = float(np.sqrt(res.scale))
        out["cv"][target] = {"median_ape": float(np.median(ape)), "within_10pct": float(np.mean(ape <= 0.10)),
                             "within_15pct": float(np.mean(ape <= 0.15)), "folds": k}
    return out
