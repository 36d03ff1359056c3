"""Datasheet GPU table and datasheet profiles: arithmetic written out beside each expected number."""
from __future__ import annotations

import json
import math

import pytest

from green_estimate.datasheet import (
    datasheet_profile,
    datasheet_profile_by_name,
    get_gpu,
    list_datasheet_profiles,
    load_gpus,
    match_gpu,
)
from green_estimate.errors import UsageError

# The classes the counter emits (DESIGN.md / the counter's contract), written out independently.
COUNTER_CLASSES = {"conv", "linear", "relu", "norm", "pool", "elementwise", "reduction", "softmax",
                   "loss", "embedding", "attention", "copy", "other"}
BRIEF_GPUS = {"h100-sxm", "a100-sxm4-40gb", "a100-sxm4-80gb", "v100-sxm2", "t4", "l4", "rtx-4090",
              "rtx-3090", "gtx-1080"}


def _op(model: dict, flops: float, nbytes: float) -> float:
    return sum(p * x for p, x in zip(model["params"], (1.0, flops, nbytes)))


def test_h100_linear_op_by_hand_fp32():
    # H100 SXM datasheet: 67 TFLOPS FP32, 3,350 GB/s, 700 W; idle estimate 70 W.
    # Assumptions for linear: 65 % of FP32 peak, 60 % of bandwidth, utilisation 0.85; 5 µs per op;
    # while waiting for launches utilisation 0.1.
    p = datasheet_profile("h100-sxm")
    flops, nbytes = 1e9, 1e6  # a 1 GFLOP, 1 MB op
    t_compute = 1e9 / (67e12 * 0.65)       # 2.2962e-5 s
    t_memory = 1e6 / (3350e9 * 0.60)       # 4.9751e-7 s
    expected_time_s = 5e-6 + t_compute + t_memory  # ≈ 2.8460e-5 s
    assert expected_time_s == pytest.approx(2.8460e-5, rel=1e-4)
    assert _op(p["classes"]["linear"]["time_s"], flops, nbytes) == pytest.approx(expected_time_s, rel=1e-12)

    power_linear_w = 70 + (700 - 70) * 0.85  # 605.5 W
    power_wait_w = 70 + (700 - 70) * 0.10    # 133 W
    expected_energy_j = 5e-6 * power_wait_w + (t_compute + t_memory) * power_linear_w  # ≈ 1.4872e-2 J
    assert expected_energy_j == pytest.approx(1.4872e-2, rel=1e-3)
    assert _op(p["classes"]["linear"]["energy_j"], flops, nbytes) == pytest.approx(expected_energy_j, rel=1e-12)


def test_h100_bf16_uses_dense_tensor_peak_for_gemms_only():
    p = datasheet_profile("h100-sxm", dtype="bf16")
    # BF16 dense = 1,979 (with sparsity) / 2 = 989.5 TFLOPS; linear assumed at 55 % of tensor peak.
    assert p["classes"]["linear"]["time_s"]["params"][1] == pytest.approx(1 / (989.5e12 * 0.55))
    # Elementwise work never runs on tensor cores: 50 % of the 67 TFLOPS FP32 peak.
    assert p["classes"]["elementwise"]["time_s"]["params"][1] == pytest.approx(1 / (67e12 * 0.50))
    assert p["dtype"] == "bfloat16" and p["name"] == "datasheet:h100-sxm:bfloat16"


def test_tf32_switch_and_fallback_on_gpus_without_tf32():
    fp32 = datasheet_profile("a100-sxm4-80gb")
    tf32 = datasheet_profile("a100-sxm4-80gb", allow_tf32=True)
    assert fp32["classes"]["conv"]["time_s"]["params"][1] == pytest.approx(1 / (19.5e12 * 0.55))
    assert tf32["classes"]["conv"]["time_s"]["params"][1] == pytest.approx(1 / (156e12 * 0.40))
    assert tf32["name"] == "datasheet:a100-sxm4-80gb:tf32"
    # V100 has no TF32: allow_tf32 changes nothing in the prices.
    v_fp32 = datasheet_profile("v100-sxm2")
    v_tf32 = datasheet_profile("v100-sxm2", allow_tf32=True)
    assert v_fp32["classes"] == v_tf32["classes"]


def test_energy_is_time_times_class_power_between_idle_and_board():
    spec = get_gpu("t4")
    p = datasheet_profile("t4")
    for cls, entry in p["classes"].items():
        t, e = entry["time_s"]["params"], entry["energy_j"]["params"]
        power_flops_w, power_bytes_w = e[1] / t[1], e[2] / t[2]
        assert power_flops_w == pytest.approx(power_bytes_w), cls
        assert spec.idle_power_w < power_flops_w < spec.board_power_w, cls
        assert e[0] / t[0] == pytest.approx(10 + (70 - 10) * 0.1), cls  # T4: idle 10 W, board 70 W


def test_every_gpu_has_all_figures_and_sources():
    gpus = load_gpus()
    assert BRIEF_GPUS <= set(gpus)
    for key, g in gpus.items():
        assert g.fp32_tflops > 0 and g.memory_bandwidth_gb_s > 0 and g.memory_gb > 0, key
        assert 0 < g.idle_power_w < g.board_power_w, key
        low, high = g.idle_power_w_range
        assert low <= g.idle_power_w <= high, key
        assert g.idle_power_is_estimate, key  # vendors publish no idle figure
        assert 2010 < g.year < 2030, key
        for tensor in (g.tf32_tensor_tflops, g.fp16_tensor_tflops, g.bf16_tensor_tflops):
            assert tensor is None or tensor >= g.fp32_tflops, key
        for group in ("compute", "memory", "power", "idle_power"):
            src = g.sources[group]
            assert src["title"] and isinstance(src["year"], int) and "url" in src, (key, group)
        assert "estimate" in g.sources["idle_power"]["title"], key
        assert g.nvml_names, key


def test_transcribed_figures_against_vendor_arithmetic():
    g = load_gpus()
    # Datasheets print tensor rates with 2:4 sparsity (*); dense is half.
    assert g["h100-sxm"].tf32_tensor_tflops == pytest.approx(989 / 2, abs=0.5)
    assert g["h100-sxm"].bf16_tensor_tflops == pytest.approx(1979 / 2, abs=0.5)
    assert g["l4"].fp16_tensor_tflops == pytest.approx(242 / 2)
    assert g["a100-sxm4-40gb"].bf16_tensor_tflops == pytest.approx(624 / 2)
    # GTX 1080: 2,560 cores x 1,733 MHz x 2 FLOP = 8.87 TFLOPS.
    assert g["gtx-1080"].fp32_tflops == pytest.approx(2560 * 1.733e9 * 2 / 1e12, rel=0.01)
    # GDDR6X bandwidth = data rate x bus width / 8: 4090 21 Gbps x 384 bit, 3090 19.5 Gbps x 384 bit.
    assert g["rtx-4090"].memory_bandwidth_gb_s == pytest.approx(21 * 384 / 8)
    assert g["rtx-3090"].memory_bandwidth_gb_s == pytest.approx(19.5 * 384 / 8)
    # No tensor cores on Pascal; no BF16/TF32 on Volta and Turing.
    assert g["gtx-1080"].fp16_tensor_tflops is None
    assert g["v100-sxm2"].bf16_tensor_tflops is None and g["t4"].tf32_tensor_tflops is None


@pytest.mark.parametrize("nvml_name, key", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"),
    ("Tesla V100-SXM2-32GB", "v100-sxm2"),
    ("Tesla T4", "t4"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("GeForce RTX 3090", "rtx-3090"),
    ("GeForce GTX 1080", "gtx-1080"),
    ("nvidia geforce rtx 4090", "rtx-4090"),
    ("h100-sxm", "h100-sxm"),
])
def test_match_gpu_by_nvml_name(nvml_name, key):
    spec = match_gpu(nvml_name)
    assert spec is not None and spec.key == key


@pytest.mark.parametrize("name", ["GeForce GTX 1080 Ti", "NVIDIA A100-SXM4-40GB MIG 1g.5gb",
                                  "NVIDIA H100 NVL", "NVIDIA GeForce RTX 4090 Laptop GPU", "", "AMD MI300X"])
def test_match_gpu_refuses_near_misses(name):
    assert match_gpu(name) is None


def test_profile_has_every_key_of_profile_at_1():
    p = datasheet_profile("rtx-4090")
    required = {"schema", "name", "created_utc", "device", "meter", "provenance", "time_provenance",
                "energy_basis", "idle_power_w", "torch_version", "dtype", "sample_count", "default_class",
                "classes", "sources"}
    assert required <= set(p)
    assert p["schema"] == "green-estimate/profile@1"
    assert p["provenance"] == p["time_provenance"] == "datasheet"
    assert p["device"]["kind"] == "gpu" and p["device"]["name"] == "NVIDIA GeForce RTX 4090"
    assert p["meter"]["name"] == "datasheet"
    assert p["idle_power_w"] == 25
    assert set(p["classes"]) == COUNTER_CLASSES and p["default_class"] == "elementwise"
    for cls, entry in p["classes"].items():
        assert entry["cv"] == {"time_s": None, "energy_j": None}, cls
        for target in ("time_s", "energy_j"):
            m = entry[target]
            assert m["form"] == "linear" and m["features"] == ["const", "flops", "bytes"]
            assert len(m["params"]) == 3 and all(x > 0 for x in m["params"])
            assert len(m["cov"]) == 3 and all(len(row) == 3 for row in m["cov"])
            assert m["resid_rel_sd"] == 0.5 and m["df_resid"] == 1000
    assert json.loads(json.dumps(p)) == p  # plain JSON


def test_sources_list_every_figure_used():
    p = datasheet_profile("l4", dtype="float16")
    figures = " | ".join(s["figure"] for s in p["sources"])
    for needed in ("peak FP32", "peak FP16 tensor", "memory bandwidth", "board power", "idle power",
                   "launch overhead", "conv: achievable efficiency"):
        assert needed in figures, needed
    assert all(s["figure"] and s["value"] and s["source"] for s in p["sources"])
    values = {s["figure"]: s["value"] for s in p["sources"]}
    assert values["peak FP16 tensor (dense)"] == "121.0 TFLOPS"
    assert values["memory bandwidth"] == "300.0 GB/s"


def test_class_total_relative_sd_equals_systematic_sd():
    p = datasheet_profile("h100-sxm")
    m = p["classes"]["conv"]["time_s"]
    x = (40.0, 3e11, 2e9)  # 40 ops summed: const, FLOPs, bytes
    mean = sum(a * b for a, b in zip(m["params"], x))
    var = sum(x[i] * m["cov"][i][j] * x[j] for i in range(3) for j in range(3))
    assert math.sqrt(var) / mean == pytest.approx(0.35)
    zero = datasheet_profile("h100-sxm", systematic_rel_sd=0.0)["classes"]["conv"]["time_s"]["cov"]
    assert zero == [[0.0] * 3] * 3


def test_faster_gpu_prices_a_big_gemm_faster():
    flops, nbytes = 1e12, 1e9
    times = {k: _op(datasheet_profile(k)["classes"]["linear"]["time_s"], flops, nbytes)
             for k in ("gtx-1080", "t4", "a100-sxm4-80gb", "h100-sxm")}
    assert times["h100-sxm"] < times["a100-sxm4-80gb"] < times["gtx-1080"] < times["t4"]


def test_errors_say_what_to_do():
    with pytest.raises(UsageError, match="h100-sxm"):
        get_gpu("h100sxm")
    with pytest.raises(UsageError, match="calibrate"):
        datasheet_profile("no-such-gpu")
    with pytest.raises(UsageError, match="float32"):
        datasheet_profile("gtx-1080", dtype="float16")
    with pytest.raises(UsageError, match="bfloat16"):
        datasheet_profile("v100-sxm2", dtype="bfloat16")
    with pytest.raises(UsageError, match="dtype"):
        datasheet_profile("t4", dtype="int8")


def test_listing_and_names_round_trip():
    rows = list_datasheet_profiles()
    assert {r["name"] for r in rows} >= {f"datasheet:{k}" for k in BRIEF_GPUS}
    assert all(r["provenance"] == "datasheet" and r["device"] for r in rows)
    v100 = next(r for r in rows if r["key"] == "v100-sxm2")
    assert v100["dtypes"] == ["float32", "float16"] and v100["tf32"] is False
    assert datasheet_profile_by_name("datasheet:t4")["name"] == "datasheet:t4"
    assert datasheet_profile_by_name("datasheet:h100-sxm:tf32")["allow_tf32"] is True
    assert datasheet_profile_by_name("datasheet:l4:bf16")["dtype"] == "bfloat16"
    with pytest.raises(UsageError):
        datasheet_profile_by_name("my-calibrated-profile")
