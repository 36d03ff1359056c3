"""Data-parallel training on many GPUs and nodes: the collectives of one step and what they cost.

Every GPU runs the same step on its own micro-batches (priced by the GPU's profile); then the
gradients are combined. Two schemes:

* **DDP** (replicated model): one **all-reduce** of the gradients per optimizer step (with
  gradient accumulation, only the last micro-batch's backward communicates: ``no_sync`` before).
  On one node it is NCCL's **ring**: each GPU sends (and receives) ``2(N−1)/N × S`` bytes for
  ``S`` gradient bytes. On ``M`` nodes of ``G`` GPUs it is **hierarchical**: a reduce-scatter
  inside each node (``(G−1)/G × S`` per GPU over NVLink/PCIe), an all-reduce of each GPU's shard
  between nodes (``2(M−1)/M × S/G`` per GPU over the network, one ring per adapter), and an
  all-gather inside the node (``(G−1)/G × S``). Each GPU moves ``2(N−1)/N × S`` in all — the
  same bytes as a flat ring — but only ``2(M−1)/(M·G) × S`` of them cross the network.
* **FSDP / ZeRO-3** (sharded parameters, gradients and optimizer state): per micro-batch, an
  **all-gather** of the parameters before the forward, another before the backward (they are
  freed after the forward), and a **reduce-scatter** of the gradients: ``(N−1)/N × (2P + S)``
  bytes per GPU — 1.5× DDP's volume, as the ZeRO paper states. Across nodes each is priced in two
  levels like the all-reduce: ``(G−1)/G × X`` inside the node and ``(M−1)/M × X/G`` per GPU over
  its adapter (NCCL's rings use every adapter of a node; the network part is the same bound).

Time of a collective: its bytes per GPU over the link's per-direction bandwidth × a bus efficiency
(0.8, an assumption), plus a latency per ring step for each bucket (DDP's default bucket is 25 MB).

**Overlap** (an assumption, ``--overlap``, default 0.5): DDP all-reduces buckets while the last
backward still runs, FSDP prefetches its gathers during compute; the fraction ``overlap`` of that
compute window hides communication, the rest of the communication is **exposed** and adds to the
step. GPUs waiting for an exposed collective draw the profile's *waiting* power (datasheet: idle +
10 % of the way to board power); the GPU's extra draw while NCCL kernels run beside compute is
ignored. Network adapters and switch ports draw their power for the whole step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from typing import Any, Mapping

from green_estimate.errors import UsageError
from green_estimate.interconnect import BUS_EFFICIENCY, Interconnect, parse_interconnects

DDP_BUCKET_BYTES = 25 * 1024 * 1024  # torch DistributedDataParallel(bucket_cap_mb=25), the default
DEFAULT_OVERLAP = 0.5


@dataclass(frozen=True)
class ParallelPlan:
    """How many GPUs train, on how many nodes, linked by what, replicated (DDP) or sharded (FSDP).

    Attributes:
        gpus: GPUs in all (data-parallel replicas or shards).
        nodes: machines; ``gpus`` must divide evenly among them.
        interconnect: ``INTRA[,INTER]`` keys of :mod:`green_estimate.interconnect`; None assumes
            from the GPU (the prediction's notes say what).
        fsdp: shard parameters, gradients and optimizer state (FSDP FULL_SHARD / ZeRO-3).
        overlap: fraction of the overlappable compute that hides communication (0 to 1).
    """

    gpus: int = 1
    nodes: int = 1
    interconnect: str | None = None
    fsdp: bool = False
    overlap: float = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise UsageError(f"--gpus {self.gpus}: must be at least 1")
        if self.nodes < 1:
            raise UsageError(f"--nodes {self.nodes}: must be at least 1")
        if self.gpus % self.nodes:
            raise UsageError(f"--gpus {self.gpus} do not divide evenly among --nodes {self.nodes}: give a multiple "
                             f"of {self.nodes} GPUs (the same number on every node)")
        if not 0.0 <= self.overlap <= 1.0:
            raise UsageError(f"--overlap {self.overlap}: give a fraction between 0 (no overlap) and 1")

    @property
    def gpus_per_node(self) -> int:
        return self.gpus // self.nodes

    @property
    def distributed(self) -> bool:
        return self.gpus > 1


def ring_allreduce_bytes(ranks: int, nbytes: float) -> float:
    """Bytes each rank sends (and receives) in a ring all-reduce of ``nbytes``: ``2(n−1)/n × nbytes``."""
    return 2.0 * (ranks - 1) / ranks * nbytes


def ring_gather_bytes(ranks: int, nbytes: float) -> float:
    """Bytes each rank sends in a ring all-gather (or reduce-scatter) of ``nbytes``: ``(n−1)/n × nbytes``."""
    return (ranks - 1) / ranks * nbytes


@dataclass(frozen=True)
class Collective:
    """One kind of collective of a step, with its per-GPU bytes and time per occurrence."""

    op: str  # "all-reduce", "all-gather", "reduce-scatter"
    algorithm: str  # "ring", "hierarchical"
    payload_bytes: int  # the tensor bytes it combines (gradients or parameters)
    per_step: int  # occurrences per optimizer step
    bytes_per_gpu: float  # sent by each GPU per occurrence (all links)
    bytes_per_gpu_network: float  # of those, over the inter-node link
    time_s: float  # per occurrence

    def to_dict(self) -> dict:
        return {"op": self.op, "algorithm": self.algorithm, "payload_bytes": self.payload_bytes,
                "per_step": self.per_step, "bytes_per_gpu": self.bytes_per_gpu,
                "bytes_per_gpu_network": self.bytes_per_gpu_network, "time_s": self.time_s}


def _link_time(nbytes: float, link: Interconnect, ring_steps: int, messages: int) -> float:
    return nbytes / (link.bandwidth_b_s * BUS_EFFICIENCY) + messages * ring_steps * link.latency_s


def allreduce(plan: ParallelPlan, nbytes: int, intra: Interconnect, inter: Interconnect) -> Collective:
    """DDP's gradient all-reduce: a ring on one node, hierarchical across nodes (module docstring)."""
    g, m = plan.gpus_per_node, plan.nodes
    buckets = max(1, math.ceil(nbytes / DDP_BUCKET_BYTES))
    if m == 1:
        sent = ring_allreduce_bytes(g, nbytes)
        return Collective("all-reduce", "ring", nbytes, 1, sent, 0.0, _link_time(sent, intra, 2 * (g - 1), buckets))
    local = 2 * ring_gather_bytes(g, nbytes)  # reduce-scatter, then all-gather, inside the node
    network = ring_allreduce_bytes(m, nbytes / g)  # each GPU's shard, between nodes
    time_s = _link_time(local, intra, 2 * (g - 1), buckets) + _link_time(network, inter, 2 * (m - 1), buckets)
    return Collective("all-reduce", "hierarchical", nbytes, 1, local + network, network, time_s)


def gather(op: str, plan: ParallelPlan, nbytes: int, per_step: int, intra: Interconnect,
           inter: Interconnect) -> Collective:
    """An all-gather or reduce-scatter of ``nbytes``: a ring on one node; across nodes, the node's part
    inside it and each GPU's ``1/G`` share of the other nodes' part over its own adapter."""
    g, m = plan.gpus_per_node, plan.nodes
    messages = max(1, math.ceil(nbytes / DDP_BUCKET_BYTES))
    if m == 1:
        sent = ring_gather_bytes(g, nbytes)
        return Collective(op, "ring", nbytes, per_step, sent, 0.0, _link_time(sent, intra, g - 1, messages))
    local = ring_gather_bytes(g, nbytes)
    network = ring_gather_bytes(m, nbytes / g)
    time_s = _link_time(local, intra, g - 1, messages) + _link_time(network, inter, m - 1, messages)
    return Collective(op, "hierarchical", nbytes, per_step, local + network, network, time_s)


def collectives(plan: ParallelPlan, *, grad_bytes: int, param_bytes: int, grad_accum: int,
                intra: Interconnect, inter: Interconnect) -> list[Collective]:
    """The collectives of one optimizer step of ``grad_accum`` micro-batches on every GPU."""
    if not plan.distributed:
        return []
    if not plan.fsdp:
        return [allreduce(plan, grad_bytes, intra, inter)]
    return [gather("all-gather", plan, param_bytes, 2 * grad_accum, intra, inter),
            gather("reduce-scatter", plan, grad_bytes, grad_accum, intra, inter)]


@dataclass
class Communication:
    """What data parallelism adds to one optimizer step of the whole cluster.

    Attributes:
        time_s: collectives' time per step, overlapped or not.
        exposed_time_s: the part that adds to the step (not hidden behind compute).
        wait_energy_j: every GPU's draw while it waits for exposed collectives.
        network_energy_j: network adapters' and switch ports' draw over the whole step.
    """

    plan: ParallelPlan
    intra: Interconnect
    inter: Interconnect
    items: list[Collective]
    grad_bytes: int
    param_bytes: int
    window_s: float  # the compute time communication may hide behind
    wait_power_w: float
    compute_time_s: float  # one GPU's step without communication
    notes: list[str] = field(default_factory=list)

    @property
    def time_s(self) -> float:
        return sum(c.time_s * c.per_step for c in self.items)

    @property
    def exposed_time_s(self) -> float:
        return max(0.0, self.time_s - self.plan.overlap * self.window_s)

    @property
    def step_time_s(self) -> float:
        return self.compute_time_s + self.exposed_time_s

    @property
    def wait_energy_j(self) -> float:
        return self.plan.gpus * self.wait_power_w * self.exposed_time_s

    @property
    def network_power_w(self) -> float:
        return self.plan.gpus * self.inter.power_w_per_gpu if self.plan.nodes > 1 else 0.0

    @property
    def network_energy_j(self) -> float:
        return self.network_power_w * self.step_time_s

    @property
    def energy_j(self) -> float:
        return self.wait_energy_j + self.network_energy_j

    def to_dict(self, total_energy_j: float) -> dict:
        """The ``parallel`` section of a prediction (per optimizer step, whole cluster)."""
        p = self.plan
        step = self.step_time_s
        links = {"intra": self.intra.to_dict()}
        if p.nodes > 1:
            links["inter"] = self.inter.to_dict()
        return {
            "gpus": p.gpus, "nodes": p.nodes, "gpus_per_node": p.gpus_per_node,
            "scheme": "fsdp" if p.fsdp else "ddp",
            "interconnect": links,
            "gradient_bytes": self.grad_bytes, "parameter_bytes": self.param_bytes,
            "collectives": [c.to_dict() for c in self.items],
            "bytes_per_gpu_per_step": sum(c.bytes_per_gpu * c.per_step for c in self.items),
            "network_bytes_per_gpu_per_step": sum(c.bytes_per_gpu_network * c.per_step for c in self.items),
            "communication": {
                "time_s_per_step": self.time_s, "exposed_time_s_per_step": self.exposed_time_s,
                "overlap": p.overlap, "overlap_window_s": self.window_s,
                "share_of_step_time": self.exposed_time_s / step if step > 0 else 0.0,
                "busy_share_of_step_time": min(1.0, self.time_s / step) if step > 0 else 0.0,
                "wait_energy_j_per_step": self.wait_energy_j, "network_energy_j_per_step": self.network_energy_j,
                "energy_j_per_step": self.energy_j,
                "share_of_energy": self.energy_j / total_energy_j if total_energy_j > 0 else 0.0,
            },
            "wait_power_w": self.wait_power_w, "network_power_w": self.network_power_w,
            "assumptions": {"bus_efficiency": BUS_EFFICIENCY, "ddp_bucket_bytes": DDP_BUCKET_BYTES,
                            "overlap": p.overlap, "network_adapters_per_gpu": 1},
        }


def wait_power_w(profile: Any) -> tuple[float, str]:
    """The draw of a GPU waiting for a collective, from the profile, and where it came from."""
    if profile.datasheet_wait_power_w is not None:
        return profile.datasheet_wait_power_w, "datasheet waiting power (idle + 10 % of the way to board power)"
    if profile.idle_power_w is not None:
        return profile.idle_power_w, "the profile's measured idle power"
    return 0.0, "no idle power in the profile: waiting GPUs priced at 0 W"


def require_gpu_profile(profile: Any, gpus: int) -> Mapping[str, Any]:
    """The profile's device, if it is a GPU; data parallelism is priced on GPU profiles only."""
    device = profile.device
    if gpus > 1 and device.get("kind") != "gpu":
        raise UsageError(f"--gpus {gpus}: data parallelism is priced on GPU profiles; profile {profile.name} is of a "
                         f"{device.get('kind', 'unknown')} device: pass --profile datasheet:<gpu> (e.g. "
                         "datasheet:h100-sxm) or a calibrated GPU profile")
    return device


def price_communication(plan: ParallelPlan, profile: Any, *, grad_bytes: int, grad_accum: int, window_s: float,
                        compute_time_s: float) -> Communication:
    """The collectives of one optimizer step on ``plan.gpus`` GPUs priced with the profile's GPU.

    Args:
        plan: GPUs, nodes, links, scheme, overlap.
        profile: the GPU profile (a :class:`~green_estimate.profile.Profile`) pricing one GPU's step.
        grad_bytes: bytes of the trainable parameters' gradients (and, for FSDP, of the parameters).
        grad_accum: micro-batches per optimizer step.
        window_s: the compute that communication may hide behind (DDP: one micro-batch's backward;
            FSDP: every forward and backward of the step).
        compute_time_s: one GPU's step without communication.
    """
    device = require_gpu_profile(profile, plan.gpus)
    arch = (device.get("fingerprint") or {}).get("architecture", "")
    intra, inter, notes = parse_interconnects(plan.interconnect, gpu_name=profile.device_name, architecture=arch)
    power_w, power_from = wait_power_w(profile)
    items = collectives(plan, grad_bytes=grad_bytes, param_bytes=grad_bytes, grad_accum=grad_accum,
                        intra=intra, inter=inter)
    scheme = "FSDP/ZeRO-3 (all-gathers and reduce-scatters)" if plan.fsdp else "DDP (gradient all-reduce)"
    notes.append(f"Data parallel on {plan.gpus} GPUs ({plan.nodes} node(s)), {scheme}: energies are the whole "
                 f"cluster's; {plan.overlap:.0%} of the overlappable compute is assumed to hide communication "
                 f"(--overlap); waiting GPUs draw {power_w:.0f} W ({power_from}).")
    return Communication(plan, intra, inter, items, grad_bytes, grad_bytes, window_s, power_w, compute_time_s, notes)
