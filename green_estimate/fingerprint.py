"""Which CPU this is, and whether a profile's CPU is this one.

A CPU profile's ``device.fingerprint`` is what :func:`cpu_fingerprint` returned on the machine that
made it. The model name alone does not tell CPUs apart (some cloud VMs name every EPYC generation
"AMD EPYC"), so the fingerprint also holds the CPU's identity numbers and the vector instructions
torch's kernels use, where known; :func:`same_cpu` is the one rule that compares two.
"""
from __future__ import annotations

import platform
from typing import Any, Mapping


def cpu_fingerprint() -> dict[str, Any]:
    """What identifies this CPU for choosing a local profile: model name, threads used, and where
    known the CPU's identity numbers (``cpu_id``) and the vector instructions torch's kernels use
    (``isa``: AVX512, AVX2, DEFAULT ...)."""
    import torch

    from green_estimate.meters.estimate import cpu_identity, cpu_model_name

    model = cpu_model_name(default=platform.processor() or platform.machine())
    fp: dict[str, Any] = {"kind": "cpu", "cpu_model": model, "threads": torch.get_num_threads(),
                          "machine": platform.machine()}
    ident = cpu_identity()
    if ident:
        fp["cpu_id"] = ident
    try:
        fp["isa"] = str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # an older torch
        pass
    return fp


# Fingerprint keys that must match for a CPU profile to be this CPU's, when both fingerprints have them
# (profiles made before ``cpu_id`` and ``isa`` were recorded compare by name and threads alone).
SAME_CPU_KEYS = ("cpu_model", "threads")
SAME_CPU_KEYS_IF_KNOWN = ("cpu_id", "isa")


def describe_cpu(fingerprint: Mapping[str, Any]) -> str:
    """``AMD EPYC (2 threads, cpu 25/17/1, AVX512)``: what tells one CPU fingerprint from another."""
    parts = [f"{fingerprint.get('threads')} threads"]
    if fingerprint.get("cpu_id"):
        parts.append(f"cpu {fingerprint['cpu_id']}")
    if fingerprint.get("isa"):
        parts.append(str(fingerprint["isa"]))
    return f"{fingerprint.get('cpu_model', 'unknown CPU')} ({', '.join(parts)})"


def same_cpu(fingerprint: Mapping[str, Any], here: Mapping[str, Any], threads: bool = True) -> bool:
    """Whether a profile's CPU ``fingerprint`` is the CPU of fingerprint ``here`` (at the same thread
    count unless ``threads`` is False)."""
    keys = [k for k in SAME_CPU_KEYS if threads or k != "threads"]
    if any(fingerprint.get(k) != here.get(k) for k in keys):
        return False
    return all(fingerprint[k] == here[k] for k in SAME_CPU_KEYS_IF_KNOWN if k in fingerprint and k in here)
