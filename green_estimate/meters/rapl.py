"""The RAPL meter: CPU package and DRAM energy from Linux powercap sysfs.

Intel (``intel_rapl_common``) and recent AMD kernels expose the same tree under
``/sys/class/powercap``: a zone ``intel-rapl:N`` per CPU socket (``name`` = ``package-N``) with
sub-zones ``intel-rapl:N:M`` named ``dram``, ``core`` or ``uncore``, and on some laptops a top-level
``psys`` zone. Each zone has ``energy_uj`` (cumulative µJ) that wraps to 0 after
``max_energy_range_uj``. µJ become J at this boundary.

``core`` and ``uncore`` are parts of the package, and ``psys`` contains it, so the default
(``package`` + ``dram``) counts nothing twice.

**Wrap-around:** the meter corrects one wrap between two reads. A counter wraps after
``max_energy_range_uj`` / power, e.g. 2**32 × 15.3 µJ ≈ 65.5 kJ at 300 W ≈ 3.6 min on some servers,
so a caller must read at least once per :meth:`RaplMeter.wrap_period_s` (calibration windows are
short; a long run should read every minute).
"""
from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from green_estimate.errors import MeterPermissionError, MeterUnavailableError
from green_estimate.meters.base import MEASURED, Reading, monotonic_s

DEFAULT_ROOT = Path("/sys/class/powercap")
DEFAULT_DOMAINS = ("package", "dram")
# RAPL counters update about every 1 ms (Intel SDM: ~976 µs); shorter windows read the same value.
RESOLUTION_S = 0.001

_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


def _read_text(path: Path) -> str:
    return path.read_text()


def permission_fix(root: Path) -> str:
    """How to grant read access to the counters, with the CVE-2020-8694 caveat."""
    return (
        f"Fix: for this boot, `sudo chmod o+r {root}/intel-rapl:*/energy_uj`; to keep it across reboots, "
        "add the udev rule `SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chmod o+r /sys%p/energy_uj\"` "
        "to /etc/udev/rules.d/70-powercap.rules and run `sudo udevadm trigger`; or run as root; or use "
        "--meter estimate (provenance: estimated). Kernels restrict these files because of CVE-2020-8694 "
        "(energy readings leak information across processes): on a shared machine grant a group instead "
        "(chgrp <group> + chmod g+r) rather than everyone."
    )


@dataclass(frozen=True)
class RaplDomain:
    """One powercap zone.

    Attributes:
        path: the zone directory.
        name: its ``name`` file (``package-0``, ``dram``, ``core``, ...).
        kind: ``package``, ``dram``, ``core``, ``uncore``, ``psys`` or the name itself.
        socket: N of ``intel-rapl:N`` (the parent zone for sub-zones).
        max_energy_range_uj: the value after which ``energy_uj`` wraps to 0.
    """

    path: Path
    name: str
    kind: str
    socket: int
    max_energy_range_uj: int

    @property
    def label(self) -> str:
        """Unique across sockets: ``package-0``, ``dram-1``."""
        return self.name if self.kind == "package" and self.name.startswith("package-") else f"{self.kind}-{self.socket}"


def _kind(name: str) -> str:
    return "package" if name.startswith("package") else name


def _no_rapl(root: Path, what: str) -> MeterUnavailableError:
    if not sys.platform.startswith("linux"):
        fix = "RAPL through powercap is Linux-only; use --meter estimate (provenance: estimated)."
    else:
        fix = (
            "load the driver (`sudo modprobe intel_rapl_common intel_rapl_msr`; AMD needs kernel >= 5.8 "
            "with the same modules); virtual machines and containers usually hide RAPL - then use "
            "--meter estimate (provenance: estimated)."
        )
    return MeterUnavailableError(f"{what} Fix: {fix}")


def discover_domains(
    root: Path = DEFAULT_ROOT, *, reader: Callable[[Path], str] = _read_text
) -> list[RaplDomain]:
    """Every RAPL zone under ``root`` (flat ``/sys/class/powercap`` layout or nested zone dirs).

    Raises:
        MeterUnavailableError: no powercap tree, or no RAPL zone in it.
    """
    if not root.is_dir():
        raise _no_rapl(root, f"No powercap tree at {root}.")
    zone_dirs = {p.name: p for p in [*root.glob("intel-rapl:*"), *root.glob("intel-rapl:*/intel-rapl:*")]}
    domains = []
    for dirname, path in sorted(zone_dirs.items()):
        match = _ZONE.match(dirname)
        if match is None:
            continue
        try:
            name = reader(path / "name").strip()
            max_uj = int(reader(path / "max_energy_range_uj").strip())
        except (OSError, ValueError) as e:
            raise MeterUnavailableError(
                f"RAPL zone {path} is unreadable ({e}). Fix: check the intel_rapl driver (`dmesg | grep -i rapl`)."
            ) from e
        domains.append(RaplDomain(path, name, _kind(name), int(match.group(1)), max_uj))
    if not domains:
        raise _no_rapl(root, f"{root} has no intel-rapl zones.")
    return domains


class RaplMeter:
    """Cumulative energy of the chosen RAPL domains of every socket (whole CPU, all processes).

    Example:
        >>> with RaplMeter() as meter, measure(meter) as window:
        ...     train_step()
    """

    name = "rapl"
    provenance = MEASURED
    resolution_s = RESOLUTION_S

    def __init__(
        self,
        root: Path = DEFAULT_ROOT,
        domains: Iterable[str] = DEFAULT_DOMAINS,
        *,
        reader: Callable[[Path], str] = _read_text,
        clock: Callable[[], float] = monotonic_s,
        poll_s: float | None = 5.0,
    ) -> None:
        """Find the zones of the chosen kinds and take the first reading.

        Args:
            root: the powercap directory (a fake tree in tests).
            domains: zone kinds to sum: ``package``, ``dram``, ``core``, ``uncore``, ``psys``.
            reader: reads one sysfs file as text. Injected by tests to fail the way the kernel does
                for non-root users (``PermissionError``), which chmod cannot fake when tests run as root.
            clock: the time source.
            poll_s: a background thread reads the counters this often, so a window longer than
                one wrap period (4295 J counters wrap in about 20 s at 200 W) loses nothing;
                ``None`` reads only when asked.

        Raises:
            MeterUnavailableError: no tree, or none of the chosen kinds present.
            MeterPermissionError: ``energy_uj`` is readable by root only (CVE-2020-8694).
        """
        self.root = Path(root)
        self._reader = reader
        self._clock = clock
        self._lock = threading.Lock()
        wanted = tuple(domains)
        found = discover_domains(self.root, reader=reader)
        self.domains = [d for d in found if d.kind in wanted]
        if not self.domains:
            present = ", ".join(sorted({d.kind for d in found}))
            raise MeterUnavailableError(
                f"No RAPL zone of kind {', '.join(wanted)} under {self.root} (present: {present}). "
                "Fix: choose domains among those present."
            )
        self.device = _describe(self.domains)
        self._last_uj = {d.label: self._raw_uj(d) for d in self.domains}
        self._total_uj = {d.label: 0 for d in self.domains}
        self._t0 = self._clock()
        self._stop = threading.Event()
        self._poll_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if poll_s is not None:
            self._thread = threading.Thread(target=self._poll, args=(poll_s,), name="rapl-poll", daemon=True)
            self._thread.start()

    def _poll(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            try:
                self._update()
            except BaseException as e:  # noqa: BLE001 - surfaced by the next read()
                self._poll_error = e
                return

    def _raw_uj(self, domain: RaplDomain) -> int:
        path = domain.path / "energy_uj"
        try:
            return int(self._reader(path).strip())
        except PermissionError as e:
            raise MeterPermissionError(
                f"Cannot read {path}: permission denied (RAPL counters are root-only since CVE-2020-8694). "
                + permission_fix(self.root)
            ) from e
        except (OSError, ValueError) as e:
            raise MeterUnavailableError(
                f"Cannot read {path} ({e}). Fix: check the intel_rapl driver (`dmesg | grep -i rapl`)."
            ) from e

    def _update(self) -> float:
        """Read every domain once, adding each increase (across at most one wrap) to its total."""
        with self._lock:
            for d in self.domains:
                raw = self._raw_uj(d)
                last = self._last_uj[d.label]
                # The counter runs 0..max_energy_range_uj, so a wrap adds (max + 1 - last) + raw.
                delta = raw - last if raw >= last else d.max_energy_range_uj + 1 - last + raw
                self._total_uj[d.label] += delta
                self._last_uj[d.label] = raw
            return self._clock()

    def read(self) -> Reading:
        """Energy (J) of the chosen domains since the meter opened, summed over sockets."""
        if self._poll_error is not None:
            raise self._poll_error
        t_s = self._update()
        return Reading(energy_j=sum(self._total_uj.values()) / 1e6, time_s=t_s)

    def per_domain(self) -> dict[str, Reading]:
        """A fresh reading per domain, keyed by label (``package-0``, ``dram-0``, ...)."""
        t_s = self._update()
        return {label: Reading(energy_j=uj / 1e6, time_s=t_s) for label, uj in self._total_uj.items()}

    def wrap_period_s(self, power_w: float) -> float:
        """Longest safe interval between reads if each domain drew ``power_w`` (the shortest wrap)."""
        return min(d.max_energy_range_uj for d in self.domains) / 1e6 / power_w

    def close(self) -> None:
        """Stop the background reader (sysfs files are opened per read)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def __enter__(self) -> RaplMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(domains: list[RaplDomain]) -> str:
    parts = []
    for kind, title in (("package", "CPU package"), ("dram", "DRAM"), ("core", "cores"), ("uncore", "uncore"), ("psys", "platform")):
        sockets = sorted({d.socket for d in domains if d.kind == kind})
        if sockets:
            parts.append(f"{title} {'+'.join(map(str, sockets))}")
    others = sorted({d.kind for d in domains} - {"package", "dram", "core", "uncore", "psys"})
    return ", ".join(parts + others) + " (RAPL)"
