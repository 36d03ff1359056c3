"""Relative budgets: the head prediction against a baseline (a git ref, or a saved prediction).

A team rarely knows an absolute energy budget; it knows "this change must not make training more
than 10 % dearer than main". The baseline is the *same model spec and plan* priced at a git ref
(default: the merge base of HEAD with the default branch), or a ``predict --json`` document saved
by an earlier run, for CI systems without history.

The files at the ref are extracted with ``git archive`` into a temporary directory that is deleted
afterwards: the user's working tree, index and worktree list are never touched. A model that does
not exist or fails to load at the ref is *no baseline* (reported, not an error): the relative
limit is then not applied and the absolute budget still is.

The increase compares point estimates of the whole run: both sides are priced by the same profile
(refused otherwise), so their calibration errors move together and the ratio of the points is the
change the pull request makes. This module imports neither torch nor any CLI library.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from green_estimate.errors import BaselineError, BudgetError, ModelLoadError
from green_estimate.gitref import default_branch, exists_at, extract, imports_from, resolve_ref, toplevel
from green_estimate.loading import split_spec
from green_estimate.units import format_energy

PREDICTION_SCHEMA = "green-estimate/prediction@1"
CHECK_SCHEMA = "green-estimate/check@1"
PredictFn = Callable[..., Any]
_PERCENT = re.compile(r"^\s*([+]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$")


def parse_increase(text: str | float | int, *, what: str = "--max-increase") -> float:
    """``"10%"`` → ``0.10``: the largest allowed increase over the baseline, as a fraction.

    A bare number is refused: ``0.1`` could mean 10 % or 0.1 %.

    Raises:
        BudgetError: no ``%``, a negative value, or not a number.
    """
    match = _PERCENT.match(str(text))
    if match is None:
        raise BudgetError(f"{what} {str(text).strip()!r} is not a percentage: write e.g. 10% (0% allows no increase)")
    return float(match.group(1)) / 100.0


@dataclass(frozen=True)
class BaselineRequest:
    """Where the baseline comes from (the allowed increase is part of the budget).

    Attributes:
        ref: a git ref (branch, tag, commit); None with no ``json_path`` = the merge base of HEAD
            with the default branch (origin/HEAD, else main or master).
        json_path: a saved ``prediction@1`` (or ``check@1``) document instead of a git ref.
    """

    ref: str | None = None
    json_path: str | None = None

    def __post_init__(self) -> None:
        if self.ref is not None and self.json_path is not None:
            raise BudgetError("give --baseline REF or --baseline-json FILE, not both")

    def fetch(self, model: str, plan: Mapping[str, Any], predict_fn: PredictFn) -> Baseline:
        """The saved document, or ``model`` priced with ``plan`` at the git ref."""
        if self.json_path is not None:
            return load_baseline_json(self.json_path)
        return baseline_at_ref(model, plan, predict_fn, ref=self.ref)

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "json": self.json_path}


@dataclass(frozen=True)
class Baseline:
    """The base side of a comparison.

    Attributes:
        source: ``"git"`` or ``"json"``.
        label: how to name it to a reader: ``"origin/main (merge base 1a2b3c4)"``, ``"baseline.json"``.
        prediction: the base ``prediction@1`` dict, or None when there is no baseline.
        reason: why there is no baseline (the model is new at the ref...), else None.
        commit: the commit priced (git only).
    """

    source: str
    label: str
    prediction: dict[str, Any] | None = None
    reason: str | None = None
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, "commit": self.commit, "reason": self.reason}


@dataclass(frozen=True)
class Comparison:
    """Head against base, and the relative limit.

    Attributes:
        base: the baseline (maybe without a prediction: "no baseline").
        head: the head ``prediction@1`` dict.
        max_increase: the allowed increase as a fraction, or None (compare only).
        notes: caveats of the comparison (different plans...).
    """

    base: Baseline
    head: dict[str, Any]
    max_increase: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def base_energy_j(self) -> float | None:
        return None if self.base.prediction is None else float(self.base.prediction["total"]["energy_j"])

    @property
    def head_energy_j(self) -> float:
        return float(self.head["total"]["energy_j"])

    @property
    def increase(self) -> float | None:
        """Head over base minus one (0.12 = 12 % dearer), or None without a baseline."""
        base = self.base_energy_j
        return None if base is None else self.head_energy_j / base - 1.0

    @property
    def exceeded(self) -> bool:
        increase = self.increase
        return self.max_increase is not None and increase is not None and increase > self.max_increase + 1e-12

    def line(self) -> str:
        """One sentence: the change and the limit, or why there is no baseline."""
        limit = "" if self.max_increase is None else _percent(self.max_increase, signed=False)
        if self.base.prediction is None:
            tail = f"; the {limit} limit is not applied" if limit else ""
            return f"no baseline at {self.base.label}: {self.base.reason}{tail}"
        increase = self.increase or 0.0
        change = f"{format_energy(self.base_energy_j or 0.0)} → {format_energy(self.head_energy_j)}"
        said = f"energy change {_percent(increase)} against {self.base.label} ({change})"
        if not limit:
            return said
        if self.exceeded:
            return f"{said} is over the {limit} limit on increase"
        return f"{said} is within the {limit} limit on increase"

    def classes(self) -> list[dict[str, Any]]:
        """Per layer class: energy and time per step and share on both sides, with the changes.

        Classes are in the head's order (dearest first), then classes only the base has.
        """
        head = self.head.get("by_class") or {}
        base = (self.base.prediction or {}).get("by_class") or {}
        rows = []
        for cls in [*head, *(c for c in base if c not in head)]:
            h, b = head.get(cls) or {}, base.get(cls) or {}
            row: dict[str, Any] = {"class": cls}
            for key, out in (("energy_j_per_step", "energy_j"), ("time_s_per_step", "time_s"), ("share", "share")):
                hv, bv = h.get(key), b.get(key)
                row[f"base_{out}"], row[f"head_{out}"] = bv, hv
                if out != "share":
                    row[f"{out}_change"] = _change(bv, hv)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The ``baseline`` object of ``check@1``."""
        return {
            **self.base.to_dict(),
            "max_increase": self.max_increase,
            "increase": self.increase,
            "exceeded": self.exceeded,
            "energy_j": {"base": self.base_energy_j, "head": self.head_energy_j, "compared": "point"},
            "by_class": self.classes() if self.base.prediction is not None else [],
            "notes": self.notes,
            "prediction": self.base.prediction,
        }


def compare(head: Mapping[str, Any], base: Baseline, max_increase: float | None = None) -> Comparison:
    """Hold a head prediction against a baseline.

    Raises:
        BaselineError: the two sides were priced by different profiles (name or provenance).
    """
    notes: list[str] = []
    if base.prediction is not None:
        hp, bp = head.get("profile") or {}, base.prediction.get("profile") or {}
        for key in ("name", "provenance"):
            if hp.get(key) != bp.get(key):
                raise BaselineError(
                    f"cannot compare: the baseline ({base.label}) was priced with profile {bp.get('name')!r} "
                    f"({bp.get('provenance')}), the head with {hp.get('name')!r} ({hp.get('provenance')}); "
                    "give the same --profile on both sides"
                )
        hplan, bplan = head.get("plan") or {}, base.prediction.get("plan") or {}
        differ = [k for k in ("batch_size", "steps", "grad_accum", "gpus") if hplan.get(k) != bplan.get(k)]
        if differ:
            notes.append("the baseline's training plan differs ("
                         + ", ".join(f"{k} {bplan.get(k)} → {hplan.get(k)}" for k in differ)
                         + "): the change includes it")
        if not float(base.prediction["total"]["energy_j"]) > 0:
            base = Baseline(base.source, base.label, None, "the base prediction is 0 J", base.commit)
    return Comparison(base=base, head=dict(head), max_increase=max_increase, notes=notes)


# ---------------------------------------------------------------------------------------------
# A saved prediction


def load_baseline_json(path: str | Path) -> Baseline:
    """Read a ``predict --json`` document (or a ``check --json`` one, using its ``prediction``).

    Raises:
        BaselineError: a missing or unreadable file, invalid JSON, another schema.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"--baseline-json {path}: no such file (save one with `green-estimate predict "
                            "MODEL --json > baseline.json`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"--baseline-json {path} cannot be read: {e}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"--baseline-json {path} is not JSON (line {e.lineno}): give the output of "
                            "`green-estimate predict MODEL --json`") from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema == CHECK_SCHEMA:
        document = document.get("prediction")
        schema = document.get("schema") if isinstance(document, dict) else None
    if schema != PREDICTION_SCHEMA or not isinstance((document or {}).get("total"), dict):
        raise BaselineError(f"--baseline-json {path} is a {schema or 'schema-less'} document, not "
                            f"{PREDICTION_SCHEMA}: give the output of `predict --json` or `check --json`")
    return Baseline(source="json", label=str(path), prediction=document)


# ---------------------------------------------------------------------------------------------
# A git ref


def baseline_at_ref(
    model: str,
    plan: Mapping[str, Any],
    predict_fn: PredictFn,
    *,
    ref: str | None = None,
    cwd: Path | None = None,
) -> Baseline:
    """Predict ``model`` with ``plan`` as the files were at ``ref`` (default: the merge base).

    Args:
        model: the MODEL spec as given for the head (relative to ``cwd``).
        plan: the keyword arguments of ``predict`` (the head's plan).
        predict_fn: the predictor, ``predict(model, **plan)``.
        ref: a git ref; None = the merge base of HEAD with the default branch.
        cwd: the working directory the spec is relative to (default: the current one).

    Raises:
        BaselineError: not in a git repository, git missing, an unknown ref, no default branch.
    """
    cwd = (cwd or Path.cwd()).resolve()
    target, name = split_spec(model)
    is_file = target.endswith(".py") or "/" in target or "\\" in target or (cwd / target).exists()
    anchor = (cwd / target).resolve().parent if is_file else cwd
    top = toplevel(anchor)
    commit, label = resolve_ref(top, ref)
    if is_file:
        rel = (cwd / target).resolve().relative_to(top)
        if not exists_at(top, commit, rel):
            return Baseline("git", label, None, f"{rel.as_posix()} does not exist there (a new file)", commit)
        subtree = rel.parent
    else:
        subtree = Path(".")
    with tempfile.TemporaryDirectory(prefix="green-estimate-base-") as tmp:
        root = Path(tmp)
        extract(top, commit, subtree, root)
        if is_file:
            spec = str(root / rel) + (f":{name}" if name else "")
            extra_path = None
        else:
            spec, extra_path = model, root / cwd.relative_to(top)
        try:
            with imports_from(root, hide=anchor, extra_path=extra_path):
                prediction = predict_fn(spec, **plan).to_dict()
        except ModelLoadError as e:
            reason = str(e).replace(str(root) + os.sep, "").replace(str(root), ".")
            return Baseline("git", label, None, f"the model does not load there: {reason}", commit)
    prediction = {**prediction, "model": model}
    prediction["notes"] = [n.replace(str(root) + os.sep, "") for n in prediction.get("notes") or []]
    return Baseline("git", label, prediction, None, commit)


def _change(base: float | None, head: float | None) -> float | None:
    """Head over base minus one; None when either is missing or the base is zero."""
    if base is None or head is None or not base > 0:
        return None
    return head / base - 1.0


def _percent(fraction: float, *, signed: bool = True) -> str:
    value = 100.0 * fraction
    text = f"{value:+.1f}%" if signed else f"{value:g}%"
    return text.replace("+0.0%", "±0.0%").replace("-0.0%", "±0.0%")


__all__ = [
    "Baseline", "BaselineRequest", "Comparison", "baseline_at_ref", "compare", "default_branch",
    "load_baseline_json", "parse_increase", "resolve_ref",
]
