"""The offline transfer benchmark's choices of byte rate (tests/benchmarks/bench_transfer_bytes.py)."""
from __future__ import annotations

from tests.benchmarks import bench_transfer_bytes as T


def test_each_choice_needs_its_reading_on_both_machines():
    made = {"bandwidth_bytes_per_s": 50e9, "cache_bandwidth_bytes_per_s": 160e9, "dram_bandwidth_bytes_per_s": 35e9}
    here = {"bandwidth_bytes_per_s": 200e9, "cache_bandwidth_bytes_per_s": 80e9}
    ratios = T.reading_ratios(made, here)
    # made/here: a copy twice as fast here halves the bytes time, one half as fast doubles it
    assert ratios == {"copy32": 0.25, "cache": 2.0}
    assert T.policies(ratios) == ["copy32", "cache"]  # no memory reading here: neither memory nor regimes
    full = T.reading_ratios(made, {**here, "dram_bandwidth_bytes_per_s": 70e9})
    assert T.policies(full) == ["copy32", "cache", "memory", "regimes"]


def test_regimes_price_memory_streams_by_memory_and_the_rest_by_cache():
    ratios = {"copy32": 0.25, "cache": 2.0, "memory": 0.5}
    assert [T.bytes_ratio("regimes", f, ratios) for f in ("bytes", "new_bytes", "bytes_large", "bytes_dram", "bytes_fresh")] \
        == [2.0, 2.0, 2.0, 0.5, 0.5]
    assert {T.bytes_ratio("copy32", f, ratios) for f in ("bytes", "bytes_dram")} == {0.25}
    assert T.bytes_ratio("memory", "bytes", ratios) == 0.5
