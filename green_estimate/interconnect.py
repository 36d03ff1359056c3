"""The interconnects a data-parallel step's collectives run over: bandwidth, latency and power.

One row per link type, with where each figure comes from. Bandwidths are the vendors' or standards'
figures (*spec*), **per GPU and per direction** in GB/s (1e9 B/s): NVIDIA datasheets print NVLink
as the total of both directions ("900 GB/s" for H100 SXM is 450 GB/s each way), and network links
as a signalling rate per port (400 Gb/s = 50 GB/s each way). A collective moves data in both
directions at once, so the per-direction figure is what bounds it.

Latency per collective step and the power of network devices are **assumptions / estimates**: no
vendor publishes a per-hop latency of NCCL's rings, and the power figures below could not be checked
against a vendor document when this table was written (each row says so). NVLink and PCIe draw is
part of the GPU's board power (already priced by the GPU profile); NVSwitch chips and host bridges
are not added (their power is not published separately).

Inter-node rows assume **one network adapter per GPU** ("rail" topology, as HGX/DGX nodes are
built): each GPU's share of the fabric is one port of the given rate and one adapter's power plus
one switch port.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from green_estimate.errors import UsageError


@dataclass(frozen=True)
class Interconnect:
    """One link type.

    Attributes:
        key: what ``--interconnect`` takes, e.g. ``"nvlink4"``.
        name: the full name.
        scope: ``"intra"`` (inside a node) or ``"inter"`` (between nodes).
        bandwidth_gb_s: per GPU, per direction, 1e9 B/s (*spec*).
        latency_s: fixed cost of one step of a ring collective on this link (*assumption*).
        power_w_per_gpu: draw added per GPU beyond its board power: adapter plus a switch port
            (*estimate*; 0 where the link is part of the GPU board).
        sources: per figure (``bandwidth``, ``latency``, ``power``): where it comes from.
    """

    key: str
    name: str
    scope: str
    bandwidth_gb_s: float
    latency_s: float
    power_w_per_gpu: float
    sources: dict[str, str]

    @property
    def bandwidth_b_s(self) -> float:
        return self.bandwidth_gb_s * 1e9

    def to_dict(self) -> dict:
        return asdict(self)


_IN_BOARD = ("0 W added: the link is part of the GPU and its draw is inside the board power the GPU profile "
             "prices; switch chips (NVSwitch) are not added, their power is not published separately")
_NCCL_INTRA = "assumption: about 2 µs per ring step inside a node (kernel launch and synchronisation)"
_NCCL_INTER = "assumption: about 5 µs per ring step across a network switch (RDMA and switch hops)"
_PCIE_LAT = "assumption: about 3 µs per ring step through PCIe (through host bridge or PCIe switch)"


def _in_node(key: str, name: str, bandwidth_gb_s: float, latency_s: float, bandwidth: str,
             latency: str) -> Interconnect:
    """A link inside a node: its draw is part of the GPU board's (0 W added)."""
    return Interconnect(key, name, "intra", bandwidth_gb_s, latency_s, 0.0,
                        {"bandwidth": bandwidth, "latency": latency, "power": _IN_BOARD})


INTERCONNECTS: dict[str, Interconnect] = {i.key: i for i in (
    _in_node("nvlink3", "NVLink 3 (A100 SXM4, 12 links)", 300.0, 2e-6, "spec: 600 GB/s total both directions per "
             "GPU, NVIDIA A100 Tensor Core GPU datasheet (2021)", _NCCL_INTRA),
    _in_node("nvlink4", "NVLink 4 (H100/H200 SXM5, 18 links)", 450.0, 2e-6, "spec: 900 GB/s total both directions "
             "per GPU, NVIDIA H100 Tensor Core GPU datasheet (2022)", _NCCL_INTRA),
    _in_node("nvlink5", "NVLink 5 (B200)", 900.0, 2e-6, "spec: 1.8 TB/s total both directions per GPU, NVIDIA DGX "
             "B200 datasheet (2024)", _NCCL_INTRA),
    _in_node("pcie4", "PCIe 4.0 x16", 31.5, 3e-6, "spec: 16 GT/s × 16 lanes × 128/130 encoding / 8 bits = 31.5 GB/s "
             "each way, PCI Express Base Specification 4.0 (PCI-SIG, 2017); NVIDIA datasheets print it as 64 GB/s "
             "(both directions)", _PCIE_LAT),
    _in_node("pcie5", "PCIe 5.0 x16", 63.0, 3e-6, "spec: 32 GT/s × 16 lanes × 128/130 / 8 = 63 GB/s each way, PCI "
             "Express Base Specification 5.0 (PCI-SIG, 2019); NVIDIA H100 datasheet prints 128 GB/s (both "
             "directions)", _PCIE_LAT),
    Interconnect(
        "ib-hdr", "InfiniBand HDR 200 Gb/s (ConnectX-6, Quantum)", "inter", 25.0, 5e-6, 25.0,
        {"bandwidth": "spec: 200 Gb/s per port = 25 GB/s each way, InfiniBand HDR (IBTA; NVIDIA ConnectX-6 "
                      "VPI adapter documentation)",
         "latency": _NCCL_INTER,
         "power": "estimate (not checked against a vendor document): ~18 W adapter + ~7 W of a switch port per GPU; "
                  "for scale, NVIDIA's ConnectX-5 OCP 2.0 manual gives 12.95 W typical for a dual 25GbE card"}),
    Interconnect(
        "ib-ndr", "InfiniBand NDR 400 Gb/s (ConnectX-7, Quantum-2)", "inter", 50.0, 5e-6, 35.0,
        {"bandwidth": "spec: 400 Gb/s per port = 50 GB/s each way, InfiniBand NDR (NVIDIA ConnectX-7 adapter "
                      "user manual: single-port OSFP, NDR 400Gb/s)",
         "latency": _NCCL_INTER,
         "power": "estimate (not checked against a vendor document): ~25 W adapter + ~10 W of a switch port per GPU; "
                  "the QM97xx switch manual allows 17 W per OSFP transceiver (Class 8) on top with optics"}),
    Interconnect(
        "eth-100g", "Ethernet 100 GbE (RoCE)", "inter", 12.5, 10e-6, 20.0,
        {"bandwidth": "spec: 100 Gb/s = 12.5 GB/s each way, IEEE 802.3 (100GBASE-CR4/SR4)",
         "latency": "assumption: about 10 µs per ring step over RoCE",
         "power": "estimate (not checked against a vendor document): ~15 W adapter + ~5 W of a switch port per GPU"}),
    Interconnect(
        "eth-400g", "Ethernet 400 GbE (RoCE)", "inter", 50.0, 10e-6, 35.0,
        {"bandwidth": "spec: 400 Gb/s = 50 GB/s each way, IEEE 802.3bs-2017",
         "latency": "assumption: about 10 µs per ring step over RoCE",
         "power": "estimate (not checked against a vendor document): ~25 W adapter + ~10 W of a switch port per GPU"}),
)}

#: The fraction of link bandwidth a large NCCL collective reaches ("bus bandwidth" / link rate).
#: An assumption: nccl-tests commonly report 75-90 % of the link rate for large all-reduces.
BUS_EFFICIENCY = 0.8


def get_interconnect(key: str) -> Interconnect:
    """The table row for ``key`` (case-insensitive); an unknown key names the known ones."""
    row = INTERCONNECTS.get(key.strip().lower())
    if row is None:
        raise UsageError(f"unknown interconnect {key!r}: choose from {', '.join(INTERCONNECTS)} "
                         "(e.g. --interconnect nvlink4,ib-ndr: inside a node, between nodes)")
    return row


def parse_interconnects(text: str | None, *, gpu_name: str = "", architecture: str = "") -> tuple[Interconnect, Interconnect, list[str]]:
    """``--interconnect INTRA[,INTER]`` → (intra-node link, inter-node link, notes on what was assumed).

    Without a value (or a part left out), the intra-node link follows the GPU: NVLink of its
    generation for SXM parts (Ampere 3, Hopper 4, Blackwell 5), else PCIe (5.0 on Hopper and newer,
    else 4.0); between nodes InfiniBand NDR. The notes say what was assumed.
    """
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if len(parts) > 2:
        raise UsageError(f"--interconnect {text!r}: give at most two links, INTRA[,INTER], e.g. nvlink4,ib-ndr")
    notes = []
    intra = get_interconnect(parts[0]) if parts else None
    inter = get_interconnect(parts[1]) if len(parts) > 1 else None
    if intra is not None and intra.scope == "inter" and inter is None:
        intra, inter = None, intra  # one network link given: it is the one between nodes
    if intra is not None and intra.scope != "intra":
        raise UsageError(f"--interconnect {intra.key} links nodes, not GPUs inside one: give an intra-node link first "
                         f"({', '.join(k for k, v in INTERCONNECTS.items() if v.scope == 'intra')})")
    if inter is not None and inter.scope != "inter":
        raise UsageError(f"--interconnect ...,{inter.key}: the second link joins nodes: choose from "
                         f"{', '.join(k for k, v in INTERCONNECTS.items() if v.scope == 'inter')}")
    if intra is None:
        intra = INTERCONNECTS[_default_intra(gpu_name, architecture)]
        notes.append(f"No intra-node link given: assumed {intra.name} for {gpu_name or 'this GPU'}.")
    if inter is None:
        inter = INTERCONNECTS["ib-ndr"]
        notes.append(f"No inter-node link given: assumed {inter.name}, one adapter per GPU.")
    return intra, inter, notes


def _default_intra(gpu_name: str, architecture: str) -> str:
    name, arch = gpu_name.lower(), architecture.lower()
    if "sxm" in name or "b200" in name:
        return {"ampere": "nvlink3", "hopper": "nvlink4", "blackwell": "nvlink5"}.get(arch, "nvlink4")
    return "pcie5" if arch in ("hopper", "blackwell") else "pcie4"
