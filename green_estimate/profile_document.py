"""Building profile documents from typed parts: what ``calibrate`` and the datasheet write.

:class:`ProfileDocument` holds a profile's parts (name, :class:`DeviceEntry`, :class:`MeterEntry`,
provenance, a :class:`ClassEntry` per layer class, the step model entry, and the writer's other
entries) and turns them into the ``green-estimate/profile@1`` JSON (``to_dict``) or a checked
:class:`~green_estimate.profile.Profile` (``build``). Nothing here changes its inputs. A profile
fitted to measured runs is a prior profile with entries replaced (``Profile.replaced``), with its
meter a :class:`MeterEntry`.

Each writer keeps the key order its documents have always had (a :class:`Layout`), so a remade
profile diffs line by line against the one it replaces.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from green_estimate.price_models import ClassModel
from green_estimate.profile import SCHEMA, Profile


@dataclass(frozen=True)
class Layout:
    """The order of a document's top-level keys and of a class entry's keys; keys not listed follow
    in the order they were given."""

    top: tuple[str, ...]
    class_entry: tuple[str, ...]


CALIBRATED = Layout(
    top=("schema", "created_utc", "time_provenance", "energy_basis", "torch_version", "dtype", "sample_count",
         "repeat_noise", "method", "default_class", "uncalibrated_classes_priced_as", "classes", "step_model",
         "probe", "pace", "name", "device", "meter", "precision", "provenance", "idle_power_w", "suite",
         "calibration_time_s"),
    class_entry=("n_samples", "n_networks", "time_s", "cv", "energy_j", "power_w"),
)
DATASHEET = Layout(
    top=("schema", "name", "created_utc", "device", "meter", "provenance", "time_provenance", "energy_basis",
         "idle_power_w", "torch_version", "dtype", "allow_tf32", "precision", "sample_count", "default_class",
         "classes", "datasheet", "sources"),
    class_entry=("n_samples", "time_s", "energy_j", "cv"),
)


def _ordered(entries: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``entries`` with the keys of ``order`` first, in that order, then the others as they came."""
    return {**{k: entries[k] for k in order if k in entries}, **{k: v for k, v in entries.items() if k not in order}}


def _present(**entries: Any) -> dict[str, Any]:
    """The entries that are not None, in the order given."""
    return {k: v for k, v in entries.items() if v is not None}


@dataclass(frozen=True)
class DeviceEntry:
    """The profile's ``device``: ``kind`` (``cpu``/``gpu``), a name, and what identifies it."""

    kind: str
    name: str
    fingerprint: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "fingerprint": dict(self.fingerprint)}


@dataclass(frozen=True)
class MeterEntry:
    """The profile's ``meter``: what measured it (or ``datasheet``/``measured-runs``) and on what device.

    Attributes:
        runs_meters: the meters of the runs a ``measured-runs`` profile was fitted to.
        power_w: the stated draw of an estimating meter (or a GPU's board power).
        power_source: where that power comes from, in words.
        passed_over: better meters that were unavailable, and why (calibration).
    """

    name: str
    device: str
    runs_meters: list[str] | None = None
    power_w: float | None = None
    power_source: str | None = None
    passed_over: list[Any] | None = None

    @classmethod
    def of(cls, meter: Any) -> MeterEntry:
        """The entry of an open meter: its name and device, stated watts, and the better meters passed over."""
        return cls(meter.name, meter.device, power_w=getattr(meter, "power_w", None),
                   power_source=getattr(meter, "power_source", None), passed_over=list(getattr(meter, "passed_over", [])))

    def to_dict(self) -> dict[str, Any]:
        return _present(name=self.name, device=self.device, runs_meters=self.runs_meters, power_w=self.power_w,
                        power_source=self.power_source, passed_over=self.passed_over)


@dataclass(frozen=True)
class ClassEntry:
    """One layer class of a profile: its time and energy models and what they were fitted from.

    Attributes:
        cv: cross-validation errors per target (None where the model was not fitted).
        n_networks: calibration networks with ops of this class.
        power_w: the power the energy model draws (a calibrated profile's energy is time × power).
    """

    time_s: ClassModel
    energy_j: ClassModel
    n_samples: int
    cv: Mapping[str, Any]
    n_networks: int | None = None
    power_w: float | None = None

    def to_dict(self, layout: Layout = CALIBRATED) -> dict[str, Any]:
        return _ordered(_present(n_samples=self.n_samples, n_networks=self.n_networks, time_s=self.time_s.to_dict(),
                                 energy_j=self.energy_j.to_dict(), cv=dict(self.cv), power_w=self.power_w),
                        layout.class_entry)


@dataclass(frozen=True)
class ProfileDocument:
    """A profile's parts, typed; ``to_dict()`` is its JSON and ``build()`` the checked :class:`Profile`.

    Attributes:
        classes: a :class:`ClassEntry` per layer class.
        default_class: the class that prices classes without a model of their own.
        step_model: the ``incontext@1`` entry of a calibrated profile (calibration/step_fit.py).
        extras: the writer's other entries (``dtype``, ``precision``, ``idle_power_w``, ...).
        layout: the key order of the writer's documents.
    """

    classes: Mapping[str, ClassEntry]
    default_class: str
    created_utc: str
    name: str | None = None
    device: DeviceEntry | None = None
    meter: MeterEntry | None = None
    provenance: str | None = None
    time_provenance: str | None = None
    step_model: Mapping[str, Any] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    layout: Layout = CALIBRATED

    def to_dict(self) -> dict[str, Any]:
        """The ``green-estimate/profile@1`` document, its keys in the writer's order."""
        parts = _present(
            schema=SCHEMA, name=self.name, created_utc=self.created_utc,
            device=None if self.device is None else self.device.to_dict(),
            meter=None if self.meter is None else self.meter.to_dict(), provenance=self.provenance,
            time_provenance=self.time_provenance, default_class=self.default_class,
            classes={c: e.to_dict(self.layout) for c, e in self.classes.items()},
            step_model=None if self.step_model is None else dict(self.step_model))
        return _ordered({**parts, **{k: v for k, v in self.extras.items() if k not in parts}}, self.layout.top)

    def build(self, origin: str = "") -> Profile:
        """The document as a checked :class:`Profile` (its ``data`` is :meth:`to_dict`)."""
        return Profile.from_dict(self.to_dict(), origin=origin)
