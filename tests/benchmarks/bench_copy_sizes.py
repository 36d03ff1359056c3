"""Copy bandwidth by buffer size on this CPU: where the device probe's copies fall against its caches.

The probe times three copies (green_estimate/device_probe.py): 2 MiB (in a last-level cache), 32 MiB
(the one that carries a profile's byte coefficients today) and four times the last-level cache (from
memory). This prints each size's rate, round by round, beside the caches the CPU reports, so one can
see which sizes hold steady and which one sits on a cache's edge.

    python tests/benchmarks/bench_copy_sizes.py [--rounds 4] [--sizes-mib 2,8,32,128,512]

Each rate is the probe's own timing (``_rate``: the median of 3 windows after a warm-up, 0.3 s) of
``dst.copy_(src)`` for float32 buffers of that size, counting bytes read and written. Sizes are timed
in turn within a round, so a slow moment touches one round of each size, not one size.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from green_estimate.device_probe import _rate, dram_copy_bytes, last_level_cache_bytes  # noqa: E402
from green_estimate.fingerprint import cpu_fingerprint, describe_cpu  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--sizes-mib", default="2,8,32,128,512", help="buffer sizes in MiB (each of source and destination)")
    args = ap.parse_args()
    llc = last_level_cache_bytes()
    memory_copy = dram_copy_bytes(llc)
    sizes = [int(s) << 20 for s in args.sizes_mib.split(",")]
    if memory_copy not in sizes:
        sizes.append(memory_copy)
    print(f"{describe_cpu(cpu_fingerprint())}, torch {torch.__version__}; "
          f"last-level cache {'unknown' if llc is None else f'{llc >> 20} MiB'}; the probe's memory copy "
          f"{memory_copy >> 20} MiB")
    buffers = {s: (torch.empty(s // 4).fill_(1.0), torch.empty(s // 4).fill_(0.0)) for s in sizes}
    print("round  " + "  ".join(f"{s >> 20:>6} MiB" for s in sizes) + "   (GB/s, read + written)")
    for r in range(args.rounds):
        rates = []
        for s in sizes:
            src, dst = buffers[s]
            rates.append(2 * s / _rate(lambda: dst.copy_(src), 0.3) / 1e9)
        print(f"{r + 1:>5}  " + "  ".join(f"{v:>10.0f}" for v in rates))


if __name__ == "__main__":
    main()
