"""Data parallelism: collective bytes against the ring formulas, times from link figures, the cluster's
totals, and a 1.3 B-parameter GPT-2 on 8 and on 64 GPUs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from green_estimate.cli.app import app
from green_estimate.errors import UsageError
from green_estimate.interconnect import INTERCONNECTS, get_interconnect, parse_interconnects
from green_estimate.parallel import DDP_BUCKET_BYTES, ParallelPlan, allreduce, collectives

ROOT = Path(__file__).resolve().parents[1]
GPT_1P3B = str(ROOT / "green_estimate" / "examples" / "gpt2_1p3b.py")
TINY_GPT = str(ROOT / "tests" / "corpus" / "hf_gpt2_tiny.py")
NVLINK4, NDR = INTERCONNECTS["nvlink4"], INTERCONNECTS["ib-ndr"]
runner = CliRunner()


def test_ring_all_reduce_on_one_node():
    s = 1_000_000
    c = allreduce(ParallelPlan(8), s, NVLINK4, NDR)
    assert (c.algorithm, c.bytes_per_gpu, c.bytes_per_gpu_network) == ("ring", 2 * 7 / 8 * s, 0.0)
    # 1.75 MB at 450 GB/s × 0.8, plus one bucket of 14 ring steps of 2 µs
    assert c.time_s == pytest.approx(1_750_000 / 360e9 + 14 * 2e-6)


def test_hierarchical_all_reduce_moves_the_ring_bytes_but_only_a_shard_over_the_network():
    s = 8 * 2**20  # one bucket
    c = allreduce(ParallelPlan(64, 8), s, NVLINK4, NDR)
    assert c.algorithm == "hierarchical"
    assert c.bytes_per_gpu == pytest.approx(2 * 63 / 64 * s)  # same as a flat ring over 64
    assert c.bytes_per_gpu_network == pytest.approx(2 * 7 / 8 * s / 8)  # the GPU's 1/8 shard, among 8 nodes
    local, network = 2 * 7 / 8 * s, 2 * 7 / 8 * s / 8
    assert c.time_s == pytest.approx(local / 360e9 + 14 * 2e-6 + network / 40e9 + 14 * 5e-6)


def test_buckets_pay_the_latency_each():
    s = 10 * DDP_BUCKET_BYTES
    c = allreduce(ParallelPlan(4), s, NVLINK4, NDR)
    assert c.time_s == pytest.approx(2 * 3 / 4 * s / 360e9 + 10 * 6 * 2e-6)


def test_fsdp_moves_one_and_a_half_times_ddp():
    s, n = 4_000_000, 16
    ddp = collectives(ParallelPlan(n), grad_bytes=s, param_bytes=s, grad_accum=1, intra=NVLINK4, inter=NDR)
    fsdp = collectives(ParallelPlan(n, fsdp=True), grad_bytes=s, param_bytes=s, grad_accum=1, intra=NVLINK4, inter=NDR)
    volume = lambda items: sum(c.bytes_per_gpu * c.per_step for c in items)  # noqa: E731
    assert volume(ddp) == pytest.approx(2 * 15 / 16 * s)
    assert volume(fsdp) == pytest.approx(3 * 15 / 16 * s)  # 2 parameter all-gathers + 1 gradient reduce-scatter
    assert [(c.op, c.per_step) for c in fsdp] == [("all-gather", 2), ("reduce-scatter", 1)]
    # with 4 micro-batches FSDP communicates in each; DDP all-reduces once per optimizer step
    acc = collectives(ParallelPlan(n, fsdp=True), grad_bytes=s, param_bytes=s, grad_accum=4, intra=NVLINK4, inter=NDR)
    assert [c.per_step for c in acc] == [8, 4]
    assert collectives(ParallelPlan(n), grad_bytes=s, param_bytes=s, grad_accum=4, intra=NVLINK4, inter=NDR)[0].per_step == 1


def test_bad_plans_and_links_are_one_line_errors():
    for kwargs, match in (({"gpus": 0}, "--gpus 0"), ({"gpus": 8, "nodes": 3}, "divide evenly"),
                          ({"gpus": 8, "nodes": 0}, "--nodes 0"), ({"gpus": 8, "overlap": 1.5}, "--overlap")):
        with pytest.raises(UsageError, match=match):
            ParallelPlan(**kwargs)
    with pytest.raises(UsageError, match="unknown interconnect 'nvlink9'.*nvlink4"):
        get_interconnect("nvlink9")
    with pytest.raises(UsageError, match="links nodes"):
        parse_interconnects("ib-ndr,ib-hdr")
    intra, inter, notes = parse_interconnects(None, gpu_name="NVIDIA H100 SXM5 80GB", architecture="Hopper")
    assert (intra.key, inter.key) == ("nvlink4", "ib-ndr") and len(notes) == 2
    assert parse_interconnects("pcie4")[0].key == "pcie4"
    assert parse_interconnects("ib-hdr", gpu_name="NVIDIA L4 24GB", architecture="Ada Lovelace")[:2] == (
        INTERCONNECTS["pcie4"], INTERCONNECTS["ib-hdr"])


def test_every_link_says_where_each_figure_comes_from():
    for link in INTERCONNECTS.values():
        assert set(link.sources) == {"bandwidth", "latency", "power"}, link.key
        assert link.sources["bandwidth"].startswith("spec:"), link.key
        assert link.sources["latency"].startswith("assumption"), link.key
        assert link.bandwidth_gb_s > 0 and link.latency_s > 0 and link.power_w_per_gpu >= 0


@pytest.fixture(scope="module")
def gpt_1p3b():
    pytest.importorskip("transformers")
    import torch

    from green_estimate.counting.counter import count_model
    from green_estimate.loading import load_workload

    report = count_model(GPT_1P3B, batch_size=8)
    with torch.device("meta"):  # the parameters counted independently of the counter
        params = [p for p in load_workload(GPT_1P3B).build().parameters() if p.requires_grad]
    return report, sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


@pytest.mark.parametrize("gpus,nodes", [(8, 1), (64, 8)])
def test_gpt2_1p3b_on_8_and_64_gpus(gpt_1p3b, gpus, nodes):
    from green_estimate.datasheet import datasheet_profile
    from green_estimate.predict import predict_report
    from green_estimate.profile import Profile
    from green_estimate.training_plan import TrainingPlan

    report, n_params, grad_bytes = gpt_1p3b
    assert 1.25e9 < n_params < 1.4e9 and grad_bytes == 4 * n_params  # float32 gradients
    profile = Profile.from_dict(datasheet_profile("h100-sxm"), origin="datasheet")
    steps, k = 1000, 4
    plan = TrainingPlan(8, steps_given=steps, grad_accum=k, gpus=gpus)
    parallel = ParallelPlan(gpus, nodes, "nvlink4,ib-ndr", overlap=0.0)  # nothing hidden: the whole cost shows
    d = predict_report(report, plan=plan, profile=profile, parallel=parallel).to_dict()
    par, comm = d["parallel"], d["parallel"]["communication"]
    (ar,) = par["collectives"]
    # the all-reduce bytes, by the ring formula
    assert par["gradient_bytes"] == grad_bytes
    assert ar["bytes_per_gpu"] == pytest.approx(2 * (gpus - 1) / gpus * grad_bytes)
    g, m = gpus // nodes, nodes
    assert ar["bytes_per_gpu_network"] == pytest.approx(0.0 if m == 1 else 2 * (m - 1) / m * grad_bytes / g)
    # its time from the link figures (450 GB/s NVLink, 50 GB/s NDR, × 0.8), 25 MB buckets, 2 / 5 µs per ring step
    buckets = math.ceil(grad_bytes / (25 * 2**20))
    want_s = (2 * (g - 1) / g * grad_bytes / (450e9 * 0.8) + buckets * 2 * (g - 1) * 2e-6
              + (2 * (m - 1) / m * grad_bytes / g / (50e9 * 0.8) + buckets * 2 * (m - 1) * 5e-6 if m > 1 else 0.0))
    assert comm["time_s_per_step"] == pytest.approx(want_s)
    assert comm["exposed_time_s_per_step"] == pytest.approx(want_s)  # overlap 0
    # share of step time: exposed over (one GPU's compute + exposed)
    compute_s = sum(c["time_s_per_step"] for name, c in d["by_class"].items() if name not in ("communication", "network"))
    step_s = compute_s + want_s
    assert d["per_step"]["time_s"] == pytest.approx(step_s)
    assert comm["share_of_step_time"] == pytest.approx(want_s / step_s) and comm["share_of_step_time"] > 0
    # energy: every GPU's compute, GPUs waiting at 70 + 0.1 × (700 − 70) = 133 W, adapters at 35 W per GPU
    gpu_compute_j = sum(c["energy_j_per_step"] for name, c in d["by_class"].items()
                        if name not in ("communication", "network")) / gpus
    wait_j = gpus * 133.0 * want_s
    network_j = (gpus * 35.0 * step_s) if m > 1 else 0.0
    total_j = gpus * gpu_compute_j + wait_j + network_j
    assert d["per_step"]["energy_j"] == pytest.approx(total_j)
    assert comm["share_of_energy"] == pytest.approx((wait_j + network_j) / total_j) and comm["share_of_energy"] > 0
    assert d["by_class"]["communication"]["energy_j_per_step"] == pytest.approx(wait_j)
    assert sum(c["share"] for c in d["by_class"].values()) == pytest.approx(1.0)
    # the whole run: GPU-hours = steps × step time × GPUs
    assert d["total"]["gpu_hours"] == pytest.approx(steps * step_s * gpus / 3600)
    assert d["total"]["energy_j"] == pytest.approx(steps * total_j)
    assert d["plan"]["samples_per_step"] == 8 * k * gpus


def test_cli_prices_a_cluster_and_explains_bad_input():
    pytest.importorskip("transformers")
    result = runner.invoke(app, ["predict", TINY_GPT, "--profile", "datasheet:a100-sxm4-80gb", "--batch-size", "2",
                                 "--steps", "10", "--gpus", "16", "--nodes", "2", "--grad-accum", "2", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    par = d["parallel"]
    assert (par["interconnect"]["intra"]["key"], par["interconnect"]["inter"]["key"]) == ("nvlink3", "ib-ndr")
    assert par["bytes_per_gpu_per_step"] == pytest.approx(2 * 15 / 16 * par["gradient_bytes"])
    assert d["plan"]["samples_per_step"] == 2 * 2 * 16
    text = runner.invoke(app, ["predict", TINY_GPT, "--profile", "datasheet:a100-sxm4-80gb", "--steps", "10",
                               "--gpus", "8", "--fsdp"])
    assert text.exit_code == 0 and "FSDP" in text.stdout and "GPU-h" in text.stdout
    for args, message in ((["--gpus", "0"], "--gpus 0"), (["--gpus", "2"], "GPU profiles"),
                          (["--gpus", "2", "--profile", "datasheet:h100-sxm", "--interconnect", "nvlink9"],
                           "unknown interconnect"),
                          (["--grad-accum", "0"], "--grad-accum 0")):
        bad = runner.invoke(app, ["predict", TINY_GPT, "--steps", "1", *args])
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output


def test_fsdp_across_nodes_sends_a_gpus_share_over_the_network():
    x = 8 * 2**20
    gather_, scatter = collectives(ParallelPlan(32, 4, fsdp=True), grad_bytes=x, param_bytes=x, grad_accum=1,
                                   intra=NVLINK4, inter=NDR)
    assert gather_.algorithm == "hierarchical"
    assert gather_.bytes_per_gpu == pytest.approx(31 / 32 * x)  # the flat-ring total, (N-1)/N
    assert gather_.bytes_per_gpu_network == pytest.approx(3 / 4 * x / 8)  # (M-1)/M of a GPU's 1/G share
    assert gather_.time_s == pytest.approx(7 / 8 * x / 360e9 + 7 * 2e-6 + 3 / 4 * x / 8 / 40e9 + 3 * 5e-6)
