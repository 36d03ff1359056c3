"""``green-estimate probe``: measure this CPU's device probe again, and show what carries a profile here."""
from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from green_estimate.cli.common import cli_errors, echo_json, stderr_console, stdout_console

# (key, label, unit, scale): the probe's rates as the table shows them
RATES = (("gemm_flops_per_s", "square GEMM (512³)", "GFLOP/s", 1e-9),
         ("thin_gemm_flops_per_s", "thin GEMM (64×256×256)", "GFLOP/s", 1e-9),
         ("conv_flops_per_s", "3×3 convolution, forward and backward", "GFLOP/s", 1e-9),
         ("bandwidth_bytes_per_s", "copy bandwidth (32 MiB)", "GB/s", 1e-9),
         ("cache_bandwidth_bytes_per_s", "copy bandwidth (2 MiB, in cache; recorded, not used)", "GB/s", 1e-9),
         ("dram_bandwidth_bytes_per_s", "copy bandwidth (4× last-level cache; recorded, not used)", "GB/s", 1e-9),
         ("fresh_page_s_per_byte", "fault in a new 64 MiB tensor's pages, per byte", "ns", 1e9),
         ("unmap_s_per_byte", "unmap them when it is freed, per byte", "ns", 1e9),
         ("dispatch_s", "one aten call", "µs", 1e6),
         ("python_loop_s", "Python loop (20,000 iterations)", "ms", 1e3))


@cli_errors
def probe(
    cached: Annotated[bool, typer.Option("--cached", help="Show the cached probe; measure nothing.")] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="The CPU profile to compare with (default: the one predict uses on this CPU).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON (schema green-estimate/probe-report@1).")] = False,
) -> None:
    """Measure this CPU's device probe again (about 15 s) and cache it in place of the old one.

    A CPU profile made on another CPU is carried here by the probe (GEMM, convolution and bandwidth rates,
    the cost of one aten call, Python's speed, what a new 64 MiB tensor's pages cost, three reference
    training steps). predict probes once and
    keeps the result, so a probe taken in a minute the machine ran fast or slow stays in every later
    prediction: run this to measure it again. The table sets the new probe beside the one it replaced and
    beside the profile's own machine; below it, how predict carries the profile here and how far that
    widens its interval.

    Example: green-estimate probe

    Example: green-estimate probe --cached --json
    """
    from green_estimate.profile_store import resolve_profile
    from green_estimate.transfer import probe_report

    prof = resolve_profile(profile, "cpu")
    if cached:
        report = probe_report(prof, refresh=False)
    else:
        from contextlib import nullcontext

        with nullcontext() if json_out else stderr_console().status("probing this CPU (about 15 s)"):
            report = probe_report(prof, refresh=True)
    if json_out:
        echo_json(report)
        return
    _render(report)


def _fmt(value: float | None, scale: float) -> str:
    return "-" if value is None else f"{value * scale:,.3g}"


def _step_times(probe: dict | None) -> dict[tuple, float]:
    """A probe's reference step times by (family, seed, batch); none for no probe."""
    return {(r["family"], r["seed"], r["batch"]): r["time_s"] for r in (probe or {}).get("reference_steps", [])}


def _render(report: dict[str, Any]) -> None:
    from rich.table import Table

    here, before, prof = report["probe"], report["previous"], report["profile"]
    made = prof["probe"]
    when = "cached" if here.get("cached") else "measured now"
    t = Table(title=f"Device probe of {report['machine']} ({when}, {here.get('measured_utc')})", title_justify="left")
    t.add_column("rate")
    t.add_column("unit")
    t.add_column("this CPU", justify="right")
    if before:
        t.add_column(f"before ({before.get('measured_utc')})", justify="right")
    if made:
        t.add_column(f"{prof['name']}'s machine", justify="right")
    rows = [(label, unit, scale, here.get(key), (before or {}).get(key), (made or {}).get(key))
            for key, label, unit, scale in RATES]
    old, home = _step_times(before), _step_times(made)
    for ref in here.get("reference_steps", []):
        key = (ref["family"], ref["seed"], ref["batch"])
        rows.append((f"reference step: {ref['family']} {ref['seed']}, batch {ref['batch']}", "ms", 1e3, ref["time_s"],
                     old.get(key), home.get(key)))
    for label, unit, scale, now, old, home in rows:
        cells = [label, unit, _fmt(now, scale)]
        if before:
            cells.append(_fmt(old, scale))
        if made:
            cells.append(_fmt(home, scale))
        t.add_row(*cells)
    console = stdout_console()
    console.print(t)
    if prof["carried"]:
        from green_estimate.transfer import reference_factors

        r = prof["ratios"]
        conv = f", convolution ×{r['conv_flops']:.2f}" if "conv_flops" in r else ""
        console.print(f"predict carries profile {prof['name']} (made on {prof['made_on']}) here with this probe: "
                      f"time multipliers GEMM ×{r['flops']:.2f}, thin GEMM ×{r['thin_flops']:.2f}{conv}, "
                      f"bandwidth ×{r['bytes']:.2f}, dispatch ×{r['dispatch']:.2f}, Python ×{r['python']:.2f}, "
                      "then widens its interval by the reference steps' median error here"
                      + (": they take " + reference_factors(prof["reference_log_errors"])
                         + f" the time it predicts for them (against its own machine), so ×{math.exp(prof['log_error']):.2f}."
                         if prof.get("reference_log_errors") else "."), soft_wrap=True)
    elif prof["kind"] != "cpu":
        console.print(f"Profile {prof['name']} is not a CPU profile: the probe does not carry it.", soft_wrap=True)
    elif made is None:
        console.print(f"Profile {prof['name']} has no probe of its machine ({prof['made_on']}): predictions use it "
                      "as it is.", soft_wrap=True)
    else:
        console.print(f"Profile {prof['name']} was made on this CPU ({prof['made_on']}): predictions use it as it "
                      "is; the probe does not carry it.", soft_wrap=True)
    console.print(f"Cached in {here['cache_path']}.", soft_wrap=True)
