"""Fitting per-class regressions of time and energy on op features, with statsmodels.

For each class, each target (``time_s``, ``energy_j``) of a sample is modelled as
``params · Σ_ops features(op)`` over the sample's ops of that class, by weighted least squares with
weights ``1/y²`` — so the fit minimises *relative* error, as costs span six orders of magnitude.
Candidate feature sets (the per-op fixed cost, FLOPs, bytes, and √FLOPs for size-dependent
efficiency) are compared by k-fold cross-validated median absolute percentage error; a set whose
fitted coefficients go negative is rejected (it would price some unseen op below zero).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from green_estimate.counting.report import OpRecord
from green_estimate.features import feature_vector

CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("const", "flops", "bytes"),
    ("const", "flops", "bytes", "sqrt_flops"),
    ("const", "flops", "bytes", "sqrt_bytes"),
    ("const", "flops_small", "flops_medium", "flops_large", "bytes"),
    ("const", "flops", "bytes_small", "bytes_medium", "bytes_large"),
    ("const", "flops_small", "flops_medium", "flops_large", "bytes_small", "bytes_medium", "bytes_large"),
    ("outputs", "flops", "bytes"),
    ("const", "outputs", "flops", "bytes"),
    ("outputs", "flops_small", "flops_medium", "flops_large", "bytes"),
    ("const", "bytes", "sqrt_bytes"),
    ("const", "flops"),
    ("const", "bytes"),
    ("const",),
)
MIN_SAMPLES = 3


@dataclass
class ClassFit:
    cls: str
    n_samples: int
    models: dict[str, dict]  # target → profile MODEL dict
    cv: dict[str, dict]      # target → {"median_ape", "within_10pct", "folds"}


def _records(sample: dict, cls: str) -> list[OpRecord]:
    return [OpRecord(op=o["op"], cls=o["cls"], phase="", module="", flops=int(o["flops"]), bytes_read=int(o["bytes"]),
                     bytes_written=0, outputs=int(o.get("outputs", 1))) for o in sample["ops"] if o["cls"] == cls]


def _wls(X: Any, y: Any) -> Any:
    import warnings

    import statsmodels.api as sm

    with warnings.catch_warnings():  # rank-deficient candidates are rejected by the caller
        warnings.simplefilter("ignore")
        return sm.WLS(y, X, weights=1.0 / y**2).fit()


def _cv(X: Any, y: Any, folds: int, seed: int = 0) -> tuple[float, float, Any]:
    """Median APE and share within ±10% of k-fold out-of-fold predictions."""
    import numpy as np

    n = len(y)
    k = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    for f in range(k):
        test = order[f::k]
        train = np.setdiff1d(order, test)
        if len(train) < X.shape[1]:
            pred[test] = np.nan
            continue
        res = _wls(X[train], y[train])
        pred[test] = X[test] @ res.params
    ape = np.abs(pred - y) / y
    ape = ape[~np.isnan(ape)]
    return float(np.median(ape)), float(np.mean(ape <= 0.10)), pred


def fit_class(cls: str, samples: list[dict], folds: int = 5) -> ClassFit | None:
    """Fit time and energy of one class; ``None`` when it has too few samples."""
    import numpy as np

    rows = [(s, _records(s, cls)) for s in samples if s["cls"] == cls]
    rows = [(s, ops) for s, ops in rows if ops and s["time_s"] > 0]
    if len(rows) < MIN_SAMPLES:
        return None
    models, cv = {}, {}
    for target in ("time_s", "energy_j"):
        y = np.array([s[target] for s, _ in rows], dtype=float)
        if np.any(y <= 0):
            keep = y > 0
            y = y[keep]
            use = [r for r, k in zip(rows, keep) if k]
        else:
            use = rows
        best = None
        for names in CANDIDATES:
            if len(use) < len(names) + 2:
                continue
            X = np.array([feature_vector(ops, list(names)) for _, ops in use], dtype=float)
            if np.linalg.matrix_rank(X) < X.shape[1] or np.any(~X.any(axis=0)):
                continue  # a feature that is all zero or collinear is not identified
            res = _wls(X, y)
            if np.any(res.params < 0):
                continue
            med, within, _ = _cv(X, y, folds)
            if best is None or med < best[0] - 1e-9:
                best = (med, within, names, res)
        if best is None:  # fall back to the per-op fixed cost alone
            names = ("const",)
            X = np.array([feature_vector(ops, ["const"]) for _, ops in use], dtype=float)
            res = _wls(X, y)
            med, within, _ = _cv(X, y, folds)
            best = (med, within, names, res)
        med, within, names, res = best
        models[target] = {
            "form": "linear", "features": list(names), "params": [float(p) for p in res.params],
            "cov": [[float(c) for c in row] for row in np.atleast_2d(res.cov_params())],
            "resid_rel_sd": float(np.sqrt(res.scale)), "df_resid": int(res.df_resid),
        }
        cv[target] = {"median_ape": med, "within_10pct": within, "folds": min(folds, len(use))}
    return ClassFit(cls, len(rows), models, cv)


def fit_harness(samples: list[dict]) -> dict | None:
    """The once-per-step cost of calling ``backward()``, from the ReLU-chain cases.

    ``y = a + b·depth`` by WLS (relative error); the intercept ``a`` is the backward-call cost,
    ``b`` the per-op cost of a tiny ReLU forward and backward.
    """
    import numpy as np
    import statsmodels.api as sm

    rows = [s for s in samples if s.get("kind") == "chain"]
    if len(rows) < 3:
        return None
    depth = np.array([s["params"]["depth"] for s in rows], dtype=float)
    X = sm.add_constant(depth)
    out: dict = {"n_samples": len(rows)}
    for target, key in (("time_s", "backward_call_s"), ("energy_j", "backward_call_j")):
        y = np.array([s[target] for s in rows], dtype=float)
        if np.any(y <= 0):
            out[key], out[key + "_sd"] = 0.0, 0.0
            continue
        res = sm.WLS(y, X, weights=1.0 / y**2).fit()
        out[key] = float(max(res.params[0], 0.0))
        out[key + "_sd"] = float(res.bse[0])
    return out


def _without_harness(samples: list[dict], harness: dict | None) -> list[dict]:
    """Samples with the backward-call cost taken out of forward+backward cases."""
    if not harness:
        return samples
    out = []
    for s in samples:
        if s.get("backward") and s.get("kind") != "chain":
            s = dict(s)
            # never below a tenth of the measured cost: a tiny case must keep a positive target
            s["time_s"] = max(s["time_s"] - harness["backward_call_s"], 0.1 * s["time_s"])
            s["energy_j"] = max(s["energy_j"] - harness["backward_call_j"], 0.1 * s["energy_j"])
        out.append(s)
    return out


def fit_profile_classes(samples: list[dict], folds: int = 5, harness: dict | None = None) -> dict[str, dict]:
    """The ``classes`` section of a profile from all samples (harness cost removed first)."""
    samples = _without_harness(samples, harness)
    out = {}
    from green_estimate.calibration.cases import SPECIAL_CLASSES

    for cls in sorted({s["cls"] for s in samples} - SPECIAL_CLASSES):
        fit = fit_class(cls, samples, folds)
        if fit is not None:
            out[cls] = {"n_samples": fit.n_samples, **fit.models, "cv": fit.cv}
    return out


def repeat_noise(samples: list[dict]) -> dict[str, float]:
    """The machine's own repeat noise: median relative spread (max−min)/median of repeats per case."""
    import numpy as np

    spreads = [s.get("time_spread_rel", 0.0) for s in samples]
    mads = []
    for s in samples:
        r = np.array(s.get("time_s_repeats", []), dtype=float)
        if len(r) >= 2:
            mads.append(float(np.median(np.abs(r - np.median(r)) / np.median(r))))
    return {"median_spread_rel": float(np.median(spreads)) if spreads else 0.0,
            "median_abs_dev_rel": float(np.median(mads)) if mads else 0.0}
