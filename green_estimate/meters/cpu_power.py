"""Watts of a busy CPU without a sensor: Cloud Carbon Footprint's per-vCPU coefficients by family.

Cloud Carbon Footprint (CCF) prices compute as ``vCPUs × (min_w + utilisation × (max_w − min_w))``
with ``min_w``/``max_w`` per vCPU for each CPU micro-architecture, derived from SPECpower_ssj2008
results (its AWS coefficient set, `cloud-carbon-footprint` methodology, appendix "Compute"; the same
figures ship in its ccf-coefficients tool and in tools that reuse them). Training keeps every thread
busy, so the estimate is CCF's model at 100 % utilisation; the range runs from CCF's own default
utilisation (50 %) to the larger of full load and the CPU's datasheet TDP per thread (when our TDP
table knows the CPU). An unknown CPU gets CCF's average over micro-architectures.

No maintained, light package ships these coefficients (Boavizta's ``boaviztapi`` is a whole web
service; ``codecarbon`` ships TDPs, not per-vCPU curves), so the table below is the one CCF
publishes, with its source, and :func:`cpu_family` says which row a CPU name falls in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CCF_SOURCE = ("Cloud Carbon Footprint compute coefficients (AWS set; min/max W per vCPU from SPECpower_ssj2008, "
              "cloudcarbonfootprint.org/docs/methodology)")
#: (min W, max W) per vCPU, by micro-architecture (CCF's AWS coefficients).
CCF_WATTS_PER_VCPU: dict[str, tuple[float, float]] = {
    "ARM Neoverse N1": (1.06, 1.94),
    "AMD EPYC 1st Gen": (0.85, 2.6),
    "AMD EPYC 2nd Gen": (0.47, 1.69),
    "AMD EPYC 3rd Gen": (0.43, 1.95),
    "Intel Sandy Bridge": (2.18, 8.61),
    "Intel Ivy Bridge": (1.71, 5.56),
    "Intel Haswell": (1.86, 5.6),
    "Intel Broadwell": (0.71, 3.69),
    "Intel Skylake": (0.55, 4.01),
    "Intel Cascade Lake": (0.69, 4.06),
    "Intel Ice Lake": (0.77, 3.97),
    "average": (0.74, 3.5),  # CCF's figure when the micro-architecture is unknown
}
# CPU model name → micro-architecture. Xeon Scalable numbers: 1st digit after the metal is the
# tier, the 2nd the generation (x1xx Skylake, x2xx Cascade Lake, x3xx Ice Lake); EPYC 7xxN: N is the generation.
_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"EPYC 7\w\w1\b", "AMD EPYC 1st Gen"), (r"EPYC 7\w\w2\b", "AMD EPYC 2nd Gen"), (r"EPYC 7\w\w3\b", "AMD EPYC 3rd Gen"),
    (r"(Platinum|Gold|Silver|Bronze) \d1\d\d", "Intel Skylake"),
    (r"(Platinum|Gold|Silver|Bronze) \d2\d\d", "Intel Cascade Lake"),
    (r"(Platinum|Gold|Silver|Bronze) \d3\d\d", "Intel Ice Lake"),
    (r"E[357]-\d{4}\w* v4", "Intel Broadwell"), (r"E[357]-\d{4}\w* v3", "Intel Haswell"),
    (r"E[357]-\d{4}\w* v2", "Intel Ivy Bridge"), (r"E[357]-\d{4}\w*(?! v\d)\b", "Intel Sandy Bridge"),
    (r"Neoverse[- ]N1|Graviton2|Ampere Altra", "ARM Neoverse N1"),
)
FULL_LOAD = 1.0
CCF_DEFAULT_UTILISATION = 0.5


@dataclass(frozen=True)
class CpuPowerEstimate:
    """Watts for some vCPUs of one CPU, a plausible range, and where the figures come from."""

    power_w: float
    low_w: float
    high_w: float
    family: str
    source: str


def cpu_family(model: str) -> str:
    """The CCF micro-architecture row of a ``/proc/cpuinfo`` model name (``"average"`` when unknown)."""
    for pattern, family in _FAMILIES:
        if re.search(pattern, model):
            return family
    return "average"


def busy_cpu_power(model: str, vcpus: int, tdp_w_per_thread: float | None = None) -> CpuPowerEstimate:
    """CCF's power of ``vcpus`` busy vCPUs of CPU ``model``, with its range (see the module docstring)."""
    family = cpu_family(model)
    lo, hi = CCF_WATTS_PER_VCPU[family]
    point = vcpus * (lo + FULL_LOAD * (hi - lo))
    low = vcpus * (lo + CCF_DEFAULT_UTILISATION * (hi - lo))
    high = max(point, vcpus * tdp_w_per_thread) if tdp_w_per_thread else point
    which = f"CPU family {family}" if family != "average" else f"{model!r}: family unknown, CCF's average"
    source = (f"{which}: {lo:g}-{hi:g} W per vCPU at idle-full load ({CCF_SOURCE}), at full load × {vcpus} "
              f"vCPU(s) = {point:.3g} W; range {low:.3g}-{high:.3g} W (50 % utilisation to "
              f"{'datasheet TDP per thread' if high > point else 'full load'})")
    return CpuPowerEstimate(point, low, high, family, source)
