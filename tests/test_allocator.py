"""settle() puts glibc's malloc where calibration measures: a 16 MiB tensor then comes from the heap.

Checked in fresh processes (the thresholds only rise, so this process's history would hide the
effect): without settle() glibc serves a 16 MiB block with mmap (above the program break), after it
from the heap (below the break).
"""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the malloc thresholds settle() moves are glibc's")

PROBE = """
import ctypes, sys, torch
from green_estimate.allocator import settle
if sys.argv[1] == "settle":
    settle()
block = torch.empty(16 << 20, dtype=torch.uint8)
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
libc.sbrk.argtypes = [ctypes.c_long]
print("heap" if block.data_ptr() < libc.sbrk(0) else "mmap")
"""


def _where(mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


@glibc_only
def test_fresh_process_mmaps_a_16_mib_tensor():
    assert _where("fresh") == "mmap"


@glibc_only
def test_settled_process_takes_it_from_the_heap():
    assert _where("settle") == "heap"

