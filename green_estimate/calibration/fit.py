"""Per-class models of an op's in-context time, fitted with statsmodels on thousands of ops.

The rows come from the ``network`` samples (:mod:`~green_estimate.calibration.incontext`): per
network and class, the features of the ops whose profiler events were matched one to one, summed,
against their summed in-context time. A class's time is ``params · Σ_ops features(op)``; candidate
feature sets (per-op fixed cost, FLOPs, bytes, GEMM FLOPs by the GEMM's smallest dimension,
depthwise FLOPs, backward cost, the backward of depthwise kernels wider than 3×3 or strided, pointwise ops that
draw random numbers or evaluate costly functions, new outputs, the indices an embedding looks up) are fitted by WLS
with weights ``1/y²`` — the relative error of a class's total in a step, which is what a prediction
adds up — and compared by cross-validation that leaves whole networks out. A feature whose
coefficient comes out negative is dropped (it would price some unseen op below zero).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from green_estimate.calibration.incontext import TIME, op_record
from green_estimate.counting.report import OpRecord
from green_estimate.features import feature_vector

# The extra cost per FLOP of thin, narrow and medium GEMMs, on top of the rate of every FLOP: a GEMM
# larger than any in the calibration is priced at the base rate, never below it.
_GEMM = ("gemm_flops_thin", "gemm_flops_narrow", "gemm_flops_medium")
_KINDS = ("rng_bytes", "transcendental_bytes", "new_bytes")
# Four convolution candidates (in CANDIDATES where they were before the 1-D and strided terms; the
# fourth, the backward of strided depthwise convolutions, added after run BQ), and each again with the
# extra cost of 1-D convolutions and of strided ones, forward and backward or the backward's own
# (features.FEATURES' conv1d and conv_strided terms).
_CONV_WIDE_DW = ("const", "backward_const", "flops", *_GEMM, "conv_unaligned16_flops", "conv_narrow_out_flops",
                 "bytes", "depthwise_wide_backward_flops")
_CONV_BASES = (
    ("const", "backward_const", "flops", *_GEMM, "conv_unaligned16_flops", "conv_narrow_out_flops", "bytes"),
    ("const", "flops", *_GEMM, "depthwise_flops", "conv_unaligned16_flops", "conv_narrow_out_flops", "bytes"),
    _CONV_WIDE_DW,
    _CONV_WIDE_DW + ("depthwise_strided_backward_flops",),
)
_CONV_EXTRAS = (("conv1d_flops",), ("conv1d_backward_flops",), ("conv1d_flops", "conv1d_backward_flops"),
                ("conv_strided_flops",), ("conv_strided_backward_flops",),
                ("conv_strided_flops", "conv_strided_backward_flops"),
                ("conv1d_flops", "conv_strided_flops"), ("conv1d_backward_flops", "conv_strided_backward_flops"),
                ("conv1d_backward_flops", "conv_strided_flops", "conv_strided_backward_flops"))
_CONV_SHAPES = tuple(base + extra for base in _CONV_BASES for extra in _CONV_EXTRAS)
CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("const", "bytes"),
    ("const", "flops", "bytes"),
    ("const", "bytes", "sqrt_bytes"),
    ("const", "backward_const", "bytes"),
    ("const", "backward_const", "flops", "bytes"),
    ("const", "bytes_small", "bytes_medium", "bytes_large"),
    # the extra cost per byte of ops that outgrow the caches, on top of every byte's
    ("const", "bytes", "bytes_large", "bytes_dram"),
    ("const", "backward_const", "bytes", "bytes_large", "bytes_dram"),
    ("const", "flops_small", "flops_medium", "bytes", "bytes_large", "bytes_dram"),
    ("const", "flops_small", "flops_medium", "flops_large", "bytes"),
    ("const", "flops", *_GEMM, "bytes"),
    ("const", "flops", *_GEMM, "depthwise_flops", "bytes"),
    ("const", "backward_const", "flops", *_GEMM, "depthwise_flops", "bytes"),
    ("const", "backward_const", "flops", *_GEMM, "depthwise_flops", "backward_flops", "bytes"),
    ("const", "outputs", "flops", *_GEMM, "depthwise_flops", "bytes"),
    ("const", "backward_const", "flops", *_GEMM, "conv_unaligned16_flops", "bytes"),
    ("const", "backward_const", "flops", *_GEMM, "conv_unaligned8_flops", "bytes"),
    ("const", "backward_const", "flops", *_GEMM, "conv_unaligned16_flops", "conv_unaligned8_flops", "bytes"),
    ("const", "flops", *_GEMM, "depthwise_flops", "conv_unaligned16_flops", "bytes"),
    ("const", "flops", *_GEMM, "conv_unaligned16_flops", "conv_narrow_out_flops", "bytes"),
    _CONV_BASES[0],
    _CONV_BASES[1],
    ("const", "flops", *_GEMM, "conv_unaligned16_flops", "conv_narrow_out_flops", "bytes",
     "depthwise_wide_backward_flops"),
    _CONV_BASES[2],
    _CONV_BASES[3],
    *_CONV_SHAPES,
    # pointwise ops by kind: random numbers, costly functions, new outputs (features.RNG_OPS)
    ("const", "bytes", *_KINDS),
    ("const", "flops", "bytes", *_KINDS),
    ("const", "bytes", "sqrt_bytes", *_KINDS),
    ("const", "bytes", "bytes_large", "bytes_dram", *_KINDS),
    ("const", "flops_small", "flops_medium", "bytes", "bytes_large", "bytes_dram", *_KINDS),
    # embedding lookups by the indices they look up (features.FEATURES' "indices")
    ("const", "bytes", "indices"),
    ("const", "backward_const", "bytes", "indices"),
    ("const", "bytes", "bytes_large", "indices"),
    ("const",),
)
# Ops that move more than a large last-level cache holds (features.BYTES_DRAM, 32 MB) stream the rest
# from memory. In run CQ's full calibration (2-vCPU EPYC, 32 MiB L3) its backward convolutions of
# 32–64 MB were priced at 0.58× their in-step time (24 ops in 16 networks) and every kind over 64 MB at
# 0.24–0.54×, while dense ones of 1–32 MB came out 0.94–1.02×: cross-validation on class totals per network
# hardly sees the few networks that have such ops, and the robust fit shrinks them as outliers. So a
# GEMM-like class whose calibration ran such ops in at least MIN_NETWORKS networks must price the
# bytes they move beyond the cache (features' bytes_past_cache, beside the rate of every byte). Priced
# on all their bytes instead (bytes_dram), 33.5 MB convolutions that ran in cache at up to 112 GFLOP/s
# came out 2.6–2.9× their time (run CS). On a machine whose cache holds such ops the rate comes out near
# zero, or negative and dropped (then the class does without it, as with KIND_FEATURES). Memory-bound
# classes choose their cache-size terms by cross-validation alone, as before: the evidence is the
# convolutions', and required there too, run CQ's quick samples refitted priced two of three held-out
# CNNs 4–11 points lower (the step model's fresh-page term, which carries much the same bytes, came
# out smaller).
DRAM_FEATURE = "bytes_past_cache"
# A calibration that ran such ops in fewer than MIN_NETWORKS networks (a quick one: two of its networks
# have convolutions past 32 MB, none past 64 MB) has no evidence of their cost, and priced a ResNet-18
# at 64 px 27–44% low (run CR). Such a class borrows that coefficient from a profile made with more
# (green_estimate/calibration/priors.py: the shipped CPU profile's, as it is on the CPU that made it,
# else rescaled by the two machines' probed bandwidth); fit_class takes it as ``prior``.
PRIOR_FEATURES = (DRAM_FEATURE,)
# ...and each set with the rate of every FLOP and of every byte again with that extra cost
CANDIDATES += tuple(c + (DRAM_FEATURE,) for c in CANDIDATES if "flops" in c and "bytes" in c and "bytes_dram" not in c)
# No candidate prices fresh pages (new tensors of 32 MiB and more, see features.FRESH_BYTES): that
# cost is one per byte whatever the op, and only the few wide networks show it, so per class it was
# fitted from 3–6 networks each — at coefficients 25× apart, the robust fit down-weighting the largest
# as outliers. Fitted as one step-level coefficient instead (step_fit.STEP_FEATURES' fresh_bytes),
# faulting and unmapping together came out 0.04–0.18 ns/B in seven refits, where the device probe
# measures 0.15–0.23 to fault a new tensor in and 0.05–0.07 to unmap it (2-vCPU EPYC VM), and a
# word2vec net, a recommender and fastText, whose steps are mostly Adam's new table-sized tensors,
# were priced 16–42% low (docs/performance.md, run DC). So where the device probe measured them, a
# memory-bound class (BYTE_CLASSES) takes the fault cost as measured, ``known`` to fit_class: its
# ops' new tensors of 32 MiB or more cost that per byte, and the class fits the rest; the step model
# takes the unmapping at the probe's cost (calibrator.fit_profile). GEMM-like classes fit their cost
# past the cache as before, which carries their outputs' faults: with the measured cost subtracted
# as well, the linear class lost its rate past the cache in six of seven refits (run DC).
MEASURED_FEATURES = ("bytes_fresh",)
# GEMM-like classes must be priced by their FLOPs: a bytes-only fit can win cross-validation on the
# calibration's networks and still be wrong by 10× on a GEMM larger than any of them.
FLOP_CLASSES = frozenset({"linear", "conv", "attention"})
# ...and memory-bound classes by the rate of every byte ("bytes"): a model without it prices a 100 MB
# optimizer update like a 100 kB one. A byte feature that stops growing is not enough: a softmax priced
# by the square root of its bytes, or a loss by bytes below the "large" bin only (what run CN's full
# calibration chose by cross-validation, its largest softmax a few MB), priced a language model's
# 67 MB log-softmax over a 4096-token vocabulary at 0.02× its time and its loss's backward at 0.0004×.
BYTE_CLASSES = frozenset({"elementwise", "copy", "norm", "relu", "pool", "reduction", "softmax", "embedding", "loss"})
# Drawing random numbers (dropout's ``bernoulli_``) costs ~80× an add per byte (features.RNG_OPS): a
# memory-bound class whose calibration drew them in at least MIN_NETWORKS networks must price them,
# beside the rate of every byte (not instead of it, as a FLOP rate and ``new_bytes`` would).
# Without this a quick calibration (3 of its 60 networks have dropout) chose a model without them by
# cross-validation — a fold that held out one of the three fitted their cost from the other two at
# 30× the rate the whole suite gives — and priced a dropout-heavy transformer 31% low.
# Likewise a GEMM-like class whose calibration ran convolutions with fewer than 8 output channels (per
# group) in at least MIN_NETWORKS networks must price them (features.FEATURES' conv_narrow_out_flops):
# the full profiles of seven runs all chose that term by cross-validation; the quick profiles of five
# of twelve runs did not, and priced a 1 -> 3-channel convolution at a wide one's rate.
# Each such feature of an op kind with a cost of its own, and the base rate it adds to ("bytes": in
# the memory-bound classes, "flops": in the GEMM-like ones):
KIND_FEATURES: dict[str, str] = {"rng_bytes": "bytes", "conv_narrow_out_flops": "flops"}
MIN_ROWS = 8
MIN_NETWORKS = 3
# Classes whose model is chosen by the one-standard-error rule (Breiman et al., CART; Hastie et al.,
# ESL §7.10): the fewest features among the candidates whose cross-validated error is within one
# standard error of the best's. The linear model also prices recurrent layers' GEMMs (scaled: the
# step model's GRU and LSTM scales), shapes its rows never had, so a choice that noise makes
# extrapolates by noise: with the seq family in the suite, its tie (3.11% against 3.16% of step time)
# went to the model with shape bins, and the benchmark's GRU was priced 18 points lower and the
# BiLSTM reference 34 points higher (run 2's samples, in context, 2-vCPU EPYC). Convolutions keep the
# best: the rule dropped the depthwise and 1-D terms there, and a depthwise-separable net went from
# +12% to +21%.
ONE_SE: frozenset = frozenset({"linear"})


@dataclass
class Row:
    """One fit row: the ops it covers (one, or all of a key in a network), their measured time."""

    ops: list[OpRecord]
    time_s: float
    network: int
    family: str
    op_times_s: list[float]
    step_time_s: float  # the whole step's measured time: errors are weighed against it


def class_rows(samples: list[dict]) -> dict[str, list[Row]]:
    """Fit rows per class: one per network, its matched ops' features against their summed time.

    Only ops matched one to one count, and none of a fused region (attention, recurrent layers —
    see :mod:`green_estimate.counting.regions`): where the device runs work differently from the
    meta count, the events that do exist are not the counted ops' work; the step model carries it.
    """
    out: dict[str, list[Row]] = {}
    for n, s in enumerate(samples):
        family = s["params"]["family"]
        by_cls: dict[str, tuple[list[OpRecord], list[float]]] = {}
        for row in s["ops"]:
            t = row[TIME]
            if t is None or t <= 0:
                continue
            op = op_record(row)
            if op.fused:
                continue  # a real device runs a fused region's work as other kernels: the step model prices it
            ops, times = by_cls.setdefault(op.cls, ([], []))
            ops.append(op)
            times.append(float(t))
        for cls, (ops, times) in by_cls.items():
            out.setdefault(cls, []).append(Row(ops, sum(times), n, family, times, float(s["time_s"])))
    return out




@dataclass
class Fit:
    """A WLS fit in the features' own units: coefficients, their covariance, residual scale."""

    params: Any
    cov: Any
    scale: float
    df_resid: int

    def cov_params(self) -> Any:
        return self.cov


def wls(X: Any, y: Any, weights: Any = None) -> Fit:
    """Robust weighted least squares (weights default ``1/y²``: relative error), with statsmodels.

    The weighted system is fitted with Huber's M-estimator (``statsmodels.RLM``): on a shared
    machine a network measured while a neighbour ran can be 50 % slow, and least squares would let
    it pull every coefficient; Huber's weights shrink such outliers. FLOPs (1e9) and a per-op
    constant (1) in one design would lose small singular values to the pseudo-inverse's cut-off,
    so the columns are scaled to unit size first and the result unscaled.
    """
    import warnings

    import numpy as np
    import statsmodels.api as sm

    w = np.sqrt(1.0 / y**2 if weights is None else weights)
    col = np.abs(X).max(axis=0)
    col = np.where(col > 0, col, 1.0)
    with warnings.catch_warnings():  # rank-deficient candidates are rejected by the caller
        warnings.simplefilter("ignore")
        res = sm.RLM(y * w, X / col * w[:, None], M=sm.robust.norms.HuberT()).fit()
    cov = np.atleast_2d(res.bcov_scaled) / np.outer(col, col)
    return Fit(np.asarray(res.params) / col, cov, float(res.scale) ** 2, int(res.df_resid))


def _wls(X: Any, y: Any, step: Any) -> Fit:
    return wls(X, y, weights=1.0 / step**2)  # a class's error as a share of its network's step


def _nonneg_wls(X: Any, y: Any, step: Any) -> tuple[Any, list[int]]:
    """WLS with the most negative coefficient's feature dropped until none is negative.

    Returns the fit and the columns it kept (an op's cost can only grow with its FLOPs or bytes).
    """
    import numpy as np

    keep = [j for j in range(X.shape[1]) if (X[:, j] != 0).any()]
    while keep:
        if len(y) <= len(keep):
            return None, []  # no residual degrees of freedom: statsmodels' robust covariance divides by them
        res = _wls(X[:, keep], y, step)
        p = np.asarray(res.params)
        if np.all(np.isfinite(p)) and np.all(p >= 0):
            return res, keep
        worst = int(np.argmin(np.where(np.isfinite(p), p, -np.inf)))
        keep = keep[:worst] + keep[worst + 1:]
    return None, []


def _networks_having(column: Any, groups: Any) -> int:
    """How many networks (``groups``, one per row) have a feature (its design ``column``) nonzero."""
    return len(set(groups[column != 0].tolist()))


def _design(rows: list[Row], features: tuple[str, ...]) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    X = np.array([feature_vector(r.ops, list(features)) for r in rows], dtype=float)
    y = np.array([r.time_s for r in rows], dtype=float)
    groups = np.array([r.network for r in rows])
    step = np.array([r.step_time_s for r in rows], dtype=float)
    return X, y, groups, step


def _cv_errors(tot_pred: Any, tot_meas: Any, step: Any) -> dict:
    """Cross-validated errors of class totals: relative to the class, and as a share of the step."""
    import numpy as np

    ape = np.abs(tot_pred - tot_meas) / tot_meas
    share = np.abs(tot_pred - tot_meas) / step
    return {"median_ape": float(np.median(ape)), "within_10pct": float(np.mean(ape <= 0.10)),
            "within_15pct": float(np.mean(ape <= 0.15)), "networks": len(ape),
            "mean_step_share_error": float(np.mean(share)),
            "mean_step_share_error_se": float(np.std(share, ddof=1) / np.sqrt(len(share))) if len(share) > 1 else 0.0,
            "grouping": "network"}


def _grouped_cv(X: Any, y: Any, groups: Any, step: Any, folds: int) -> dict | None:
    """Errors of per-network class totals, each predicted by a fit without that network's fold."""
    import numpy as np

    nets = np.unique(groups)
    order = np.random.default_rng(0).permutation(nets)
    k = max(2, min(folds, len(nets)))
    pred = np.empty(len(y))
    for f in range(k):
        test = np.isin(groups, order[f::k])
        if int((~test).sum()) <= X.shape[1]:
            return None  # a fold too small for this many features: the candidate is not cross-validated
        res = _wls(X[~test], y[~test], step[~test])
        if not np.all(np.isfinite(res.params)):
            return None
        pred[test] = X[test] @ res.params
    return _cv_errors(np.array([pred[groups == g].sum() for g in nets]),
                      np.array([y[groups == g].sum() for g in nets]), np.array([step[groups == g][0] for g in nets]))


def fit_class(rows: list[Row], folds: int = 5, candidates: tuple[tuple[str, ...], ...] = CANDIDATES,
              need_flops: bool = False, need_bytes: bool = False, one_se: bool = False,
              prior: dict[str, float] | None = None, known: dict[str, float] | None = None) -> dict | None:
    """The best model of one class's in-context time, or ``None`` with too few rows.

    Candidates: the feature sets of :data:`CANDIDATES` (``need_flops``: only those with the rate of
    every FLOP, for GEMM-like classes; ``need_bytes``: only those with the rate of every byte, for
    memory-bound classes; and with each feature of :data:`KIND_FEATURES`, and its base rate, that at
    least :data:`MIN_NETWORKS` of the rows' networks have, such as ``rng_bytes`` and ``bytes`` where
    they drew random numbers). The one whose class totals, predicted for networks it did not see,
    miss by the smallest mean share of those networks' step time wins, among those that meet every
    need; when none does (a needed kind's rate came out negative wherever it was tried), among those
    that keep the rate of every FLOP or byte; then, for a byte class, among those with any bytes
    feature; only when none does that either, among all. With
    ``one_se`` the one with the fewest features among those within a standard error of that (see
    :data:`ONE_SE`).

    ``prior``: coefficients of features the rows have too little evidence of (fewer than
    :data:`MIN_NETWORKS` of their networks have them, or none), from a profile made with more (see
    :data:`PRIOR_FEATURES`): each such feature joins the model at that coefficient, its cost is taken
    off the rows' time before the fit, and the result lists it under ``borrowed``. A feature the rows
    have in enough networks is fitted as usual.

    ``known``: coefficients of features whose cost was measured apart (:data:`MEASURED_FEATURES`):
    each joins the model at that coefficient whatever the rows have, its cost taken off their time.
    """
    import numpy as np

    if len(rows) < MIN_ROWS or len({r.network for r in rows}) < MIN_NETWORKS:
        return None
    # ((meets all needs, has the FLOP/byte rate, has any bytes feature), cv, model)
    fits: list[tuple[tuple[bool, bool, bool], dict, dict]] = []
    tried: set[tuple[str, ...]] = set()
    names = list(dict.fromkeys(f for cand in candidates for f in cand))
    X_all, y, groups, step = _design(rows, tuple(names))  # every feature once; candidates take columns
    column = {f: j for j, f in enumerate(names)}
    borrowed = {f: float(c) for f, c in (prior or {}).items()
                if f in column and _networks_having(X_all[:, column[f]], groups) < MIN_NETWORKS}
    # borrowed and measured costs are known: taken off the rows' time, the candidates fit the rest
    fixed = {**borrowed, **{f: float(c) for f, c in (known or {}).items() if f not in borrowed}}
    if fixed:
        K = np.array([feature_vector(r.ops, list(fixed)) for r in rows], dtype=float)
        y = y - K @ np.array(list(fixed.values()))
    present = {f for f in names if (X_all[:, column[f]] != 0).any() and f not in borrowed}
    needed: set[str] = set()  # kinds of op the rows ran in enough networks, with their base rates
    for f, base in KIND_FEATURES.items():
        if ((need_bytes if base == "bytes" else need_flops) and f in column
                and _networks_having(X_all[:, column[f]], groups) >= MIN_NETWORKS):
            needed |= {f, base}
    if (need_flops and DRAM_FEATURE in column
            and _networks_having(X_all[:, column[DRAM_FEATURE]], groups) >= MIN_NETWORKS):
        needed |= {DRAM_FEATURE, "bytes"}
    inputs: set[tuple[str, ...]] = set()
    for cand in candidates:
        cand = tuple(f for f in cand if f not in borrowed)
        used = tuple(f for f in cand if f in present)
        if used in inputs:
            continue  # the same columns as a candidate fitted already (features this class never has)
        inputs.add(used)
        X = X_all[:, [column[f] for f in cand]]
        res, keep = _nonneg_wls(X, y, step)
        chosen = tuple(cand[k] for k in keep)
        if res is None or chosen in tried or len(y) <= len(keep) + 2:
            continue
        tried.add(chosen)
        cv = _grouped_cv(X[:, keep], y, groups, step, folds)
        if cv is None:
            continue
        # a FLOP class needs the rate of every FLOP ("flops"): the shape bins alone price a GEMM
        # larger than the bins' largest at zero per FLOP; a byte class likewise the rate of every byte
        basic = not (need_flops and "flops" not in chosen) and not (need_bytes and "bytes" not in chosen)
        meets = basic and needed <= set(chosen)
        some_bytes = not need_bytes or any("bytes" in f for f in chosen)
        model = {"form": "linear", "features": list(chosen), "params": [float(p) for p in res.params],
                 "cov": [[float(c) for c in row] for row in np.atleast_2d(res.cov_params())],
                 "resid_rel_sd": cv["median_ape"], "df_resid": int(res.df_resid)}
        fits.append(((meets, basic, some_bytes), cv, model))
    # the best that meets the class's needs; when none does, the best that has the rate of every FLOP
    # (or byte) without the kinds of op it needed (their rates came out negative); then, for a byte
    # class whose rate of every byte came out negative wherever it was tried, the best with any bytes
    # feature; only when none has that either (the data say FLOPs, or bytes, cost nothing) the best of all
    pool = ([f for f in fits if f[0][0]] or [f for f in fits if f[0][1]] or [f for f in fits if f[0][2]]
            or fits)
    if not pool:
        return None
    best = min(pool, key=lambda f: f[1]["mean_step_share_error"])[1:]
    if one_se:
        bar = best[0]["mean_step_share_error"] + best[0]["mean_step_share_error_se"]
        best = min((f for f in pool if f[1]["mean_step_share_error"] <= bar),
                   key=lambda f: (len(f[2]["features"]), f[1]["mean_step_share_error"]))[1:]
    model = best[1]
    if fixed:
        k = len(model["features"])
        model = {**model, "features": model["features"] + list(fixed),
                 "params": model["params"] + list(fixed.values()),
                 "cov": [row + [0.0] * len(fixed) for row in model["cov"]]
                 + [[0.0] * (k + len(fixed)) for _ in fixed]}
    return {"n_samples": len(rows), "n_networks": len({r.network for r in rows}), "time_s": model,
            "cv": {"time_s": best[0]}, **({"borrowed": borrowed} if borrowed else {})}


def fit_classes(rows: dict[str, list[Row]], folds: int = 5,
                priors: dict[str, dict[str, float]] | None = None, known: dict[str, float] | None = None
                ) -> dict[str, dict]:
    """A time model per class that has enough rows, its features chosen by grouped cross-validation
    (``priors``: per class, coefficients for what its rows have too little evidence of; ``known``:
    measured costs, which the memory-bound classes take (see :data:`MEASURED_FEATURES`); see
    :func:`fit_class`)."""
    out = {}
    for cls, cls_rows in sorted(rows.items()):
        fit = fit_class(cls_rows, folds=folds, need_flops=cls in FLOP_CLASSES, need_bytes=cls in BYTE_CLASSES,
                        one_se=cls in ONE_SE, prior=(priors or {}).get(cls),
                        known=known if cls in BYTE_CLASSES else None)
        if fit is not None:
            out[cls] = fit
    return out


def refit_params(rows: list[Row], features: list[str], fallback: list[float] | None = None) -> list[float] | None:
    """The coefficients of a chosen feature set on other rows (no selection, no CV): leave-out fits.

    A feature that fewer than :data:`MIN_NETWORKS` of the rows' networks have (the family left out
    had the rest of some op shape) keeps its ``fallback`` coefficient (the full fit's), and the
    others are fitted to what it leaves of the time: one or two networks say little about it, and a
    profile always has it from the whole suite — a leave-out fit asks how well *architectures*
    calibration did not see are priced, not op kinds it barely ran. (Refitted from the two small
    dropouts of a quick suite's MLPs, with its transformers left out, the cost of random numbers came
    out 190× the whole suite's, and that family's errors up to 50×.)
    """
    import numpy as np

    if len(rows) < len(features) + 1:
        return None
    X, y, groups, step = _design(rows, tuple(features))
    params = [0.0] * len(features)
    if fallback is not None:
        for k in range(len(features)):
            if _networks_having(X[:, k], groups) < MIN_NETWORKS or features[k] in MEASURED_FEATURES:  # measured: kept
                params[k] = float(fallback[k])
                y = y - X[:, k] * params[k]
                X[:, k] = 0.0
    res, keep = _nonneg_wls(X, y, step)
    if res is not None:
        for k, p in zip(keep, np.asarray(res.params)):
            params[k] = float(p)
    return params


def repeat_noise(samples: list[dict]) -> dict[str, float]:
    """How much the same step's timing windows disagree on this machine (the floor under any error)."""
    import numpy as np

    spreads = [s["time_spread_rel"] for s in samples if s.get("time_spread_rel") is not None]
    mads = []
    for s in samples:
        r = np.array(s.get("time_s_repeats") or [])
        if len(r) >= 3 and np.median(r) > 0:
            mads.append(float(np.median(np.abs(r - np.median(r))) / np.median(r)))
    return {"median_spread_rel": float(np.median(spreads)) if spreads else 0.0,
            "median_mad_rel": float(np.median(mads)) if mads else 0.0, "cases": len(spreads)}
