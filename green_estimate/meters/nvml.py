"""The NVML meter: energy of one whole NVIDIA GPU board.

Primary source is NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and
newer): millijoules since the driver loaded, refreshed by the driver roughly every 20-100 ms. GPUs
without it (``NVML_ERROR_NOT_SUPPORTED``) fall back to a background thread that samples board power
(``nvmlDeviceGetPowerUsage``, milliwatts) at ``poll_hz`` and integrates it with the trapezoid rule.
mJ and mW become J and W at this boundary.

``gpu_index`` counts *visible* GPUs, as PyTorch does: it is mapped through ``CUDA_VISIBLE_DEVICES``
(integers, ``GPU-<uuid prefix>`` or ``MIG-<uuid>`` entries) to NVML's physical index.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from green_estimate.errors import MeterPermissionError, MeterUnavailableError, UsageError
from green_estimate.meters.base import MEASURED, Reading, monotonic_s

COUNTER = "counter"
POLLING = "polling"

# The counter is refreshed by the driver every ~20-100 ms (GPU-dependent); one refresh period is the
# shortest window whose difference means anything. Keep windows >= 10x this for <= 10% quantisation.
COUNTER_RESOLUTION_S = 0.1
# nvmlDeviceGetPowerUsage returns a value the driver averages/refreshes on its own schedule (down
# to ~1 s on some boards, and it covers only part of the runtime on A100/H100 - Yang et al., SC'24);
# sampling faster than that does not make windows shorter than ~1 s trustworthy.
POLLING_RESOLUTION_S = 1.0
MIN_POLL_HZ = 10.0

_MIG_FIX = (
    "MIG instances have no per-instance energy counter, so green-estimate cannot attribute energy to a "
    "MIG slice. Fix: run on a whole GPU (CUDA_VISIBLE_DEVICES=<index or GPU-uuid>), or use "
    "--meter estimate --watts <your share of the board power> (provenance: estimated)."
)


def load_pynvml() -> ModuleType:
    """Import ``pynvml`` (package ``nvidia-ml-py``), or say how to install it."""
    try:
        import pynvml
    except ImportError as e:
        raise MeterUnavailableError(
            "The NVML Python bindings are not installed. Fix: pip install nvidia-ml-py"
        ) from e
    return pynvml


def nvml_error(nvml: Any, e: Exception, doing: str) -> MeterUnavailableError:
    """Turn an ``NVMLError`` into a MeterUnavailableError whose message ends in ``Fix: ...``."""
    code = getattr(e, "value", None)
    if code == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return MeterUnavailableError(
            f"NVML library (libnvidia-ml.so.1) not found while {doing}: no NVIDIA driver on this machine. "
            "Fix: install the NVIDIA driver (it ships NVML); in a container, run it with the NVIDIA "
            "Container Toolkit (docker run --gpus all)."
        )
    if code == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return MeterUnavailableError(
            f"The NVIDIA kernel driver is not loaded ({doing}). "
            "Fix: check `nvidia-smi`; load the driver (sudo modprobe nvidia) or reinstall it, then retry."
        )
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return MeterPermissionError(
            f"NVML refused access while {doing} (insufficient permissions). "
            "Fix: ask an administrator to give your user read access to /dev/nvidia* "
            "(usually membership of the group owning them, e.g. `video`)."
        )
    if code == nvml.NVML_ERROR_GPU_IS_LOST:
        return MeterUnavailableError(
            f"The GPU fell off the bus while {doing}. Fix: check `nvidia-smi`; the node needs a GPU reset or reboot."
        )
    return MeterUnavailableError(f"NVML failed while {doing}: {e}. Fix: check that `nvidia-smi` works.")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_to_nvml_index(gpu_index: int, nvml: Any, env: Mapping[str, str] | None = None) -> int:
    """Map a visible GPU index (``--gpu N``, ``cuda:N``) to NVML's physical device index.

    Follows CUDA's rules for ``CUDA_VISIBLE_DEVICES``: comma-separated integers, ``GPU-<uuid prefix>``
    or ``MIG-<uuid>`` entries; enumeration stops at the first entry that names no device; an empty
    value hides every GPU. NVML must be initialised.

    Raises:
        MeterUnavailableError: the index is not visible, an entry is ambiguous, or it names a MIG instance.
    """
    env = os.environ if env is None else env
    count = int(nvml.nvmlDeviceGetCount())
    if gpu_index < 0:
        raise MeterUnavailableError(f"GPU index {gpu_index} is negative. Fix: pass --gpu 0 for the first visible GPU.")
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is None:
        if gpu_index >= count:
            raise MeterUnavailableError(
                f"GPU {gpu_index} does not exist: NVML sees {count} GPU(s). "
                f"Fix: pass --gpu between 0 and {count - 1} (see `nvidia-smi -L`)."
            )
        return gpu_index
    visible: list[int | str] = []  # an NVML index, or the MIG entry itself
    uuids: list[str] | None = None
    for raw in cvd.split(","):
        entry = raw.strip()
        if entry.startswith("MIG-"):
            visible.append(entry)
        elif entry.isdigit() and int(entry) < count:
            visible.append(int(entry))
        elif entry.startswith("GPU-"):
            if uuids is None:
                uuids = [_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            matches = [i for i, u in enumerate(uuids) if u.startswith(entry)]
            if len(matches) > 1:
                raise MeterUnavailableError(
                    f"CUDA_VISIBLE_DEVICES entry {entry!r} matches {len(matches)} GPUs. "
                    "Fix: give more characters of the UUID (see `nvidia-smi -L`)."
                )
            if not matches:
                break
            visible.append(matches[0])
        else:
            break  # CUDA ignores this entry and every one after it
    if gpu_index >= len(visible):
        raise MeterUnavailableError(
            f"GPU {gpu_index} is not visible: CUDA_VISIBLE_DEVICES={cvd!r} makes {len(visible)} GPU(s) visible. "
            f"Fix: pass --gpu below {len(visible)}, or change CUDA_VISIBLE_DEVICES."
            if visible
            else f"No GPU is visible: CUDA_VISIBLE_DEVICES={cvd!r}. Fix: unset it or list a GPU index or UUID."
        )
    chosen = visible[gpu_index]
    if isinstance(chosen, str):
        raise MeterUnavailableError(f"GPU {gpu_index} is the MIG instance {chosen}. Fix: {_MIG_FIX}")
    return chosen


class NvmlMeter:
    """Cumulative energy of one NVIDIA GPU board (all of it: SMs, memory, fans, other processes).

    Attributes:
        mode: ``"counter"`` (hardware energy counter) or ``"polling"`` (integrated power samples).
        gpu_index: the visible index asked for; ``nvml_index``: NVML's physical index; ``uuid``.
        warnings: caveats the caller should show next to the numbers (MIG enabled, device order).

    Example:
        >>> with NvmlMeter(0) as meter, measure(meter) as window:
        ...     train_step()
    """

    name = "nvml"
    provenance = MEASURED

    def __init__(
        self,
        index: int = 0,
        *,
        pynvml_module: Any = None,
        poll_hz: float = 20.0,
        mode: str = "auto",
        background: bool = True,
        clock: Callable[[], float] = monotonic_s,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Open GPU ``index`` (a visible index) and take the first reading.

        Args:
            index: visible GPU index, mapped through ``CUDA_VISIBLE_DEVICES``.
            pynvml_module: the ``pynvml`` module (injected by tests); imported when None.
            poll_hz: power sampling rate in polling mode (>= 10 Hz).
            mode: ``"auto"`` (counter if supported, else polling), ``"counter"`` or ``"polling"``.
            background: in polling mode, sample in a daemon thread; False samples only on ``read()``.
            clock: the time source (``monotonic_s``; tests inject a fake).
            env: environment holding ``CUDA_VISIBLE_DEVICES`` (``os.environ`` when None).

        Raises:
            MeterUnavailableError: no library, driver, device, or neither energy nor power support.
            MeterPermissionError: NVML denies access.
        """
        if poll_hz < MIN_POLL_HZ:
            raise UsageError(f"poll_hz={poll_hz} is too coarse for training steps: use at least {MIN_POLL_HZ:g} Hz.")
        if mode not in ("auto", COUNTER, POLLING):
            raise UsageError(f"NVML mode {mode!r} is unknown: use auto, counter or polling.")
        self._nvml = load_pynvml() if pynvml_module is None else pynvml_module
        self._clock = clock
        self._period_s = 1.0 / poll_hz
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_error: Exception | None = None
        self._closed = False
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as e:
            raise nvml_error(nvml, e, "initialising NVML") from e
        try:
            self._open(index, env, mode)
        except BaseException:
            self._shutdown()
            raise
        if self.mode == POLLING and background:
            self._thread = threading.Thread(target=self._poll_loop, name=f"nvml-power-gpu{index}", daemon=True)
            self._thread.start()

    def _open(self, index: int, env: Mapping[str, str] | None, mode: str) -> None:
        nvml = self._nvml
        try:
            self.nvml_index = visible_to_nvml_index(index, nvml, env)
            self._handle = nvml.nvmlDeviceGetHandleByIndex(self.nvml_index)
            if self._is_mig_handle():
                raise MeterUnavailableError(f"GPU {index} is a MIG instance. Fix: {_MIG_FIX}")
            self.gpu_index = index
            self.gpu_name = _text(nvml.nvmlDeviceGetName(self._handle))
            self.uuid = _text(nvml.nvmlDeviceGetUUID(self._handle))
            self.warnings = tuple(self._caveats(env))
        except nvml.NVMLError as e:
            raise nvml_error(nvml, e, f"opening GPU {index}") from e
        self.device = f"{self.gpu_name} (GPU {index}, NVML index {self.nvml_index})"
        self._energy_j = 0.0
        if mode != POLLING:
            try:
                self._base_mj = int(nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
                self._t_last = self._clock()
                self.mode, self.resolution_s = COUNTER, COUNTER_RESOLUTION_S
                return
            except nvml.NVMLError as e:
                if mode == COUNTER or getattr(e, "value", None) != nvml.NVML_ERROR_NOT_SUPPORTED:
                    raise nvml_error(nvml, e, f"reading the energy counter of {self.device}") from e
        try:
            self._p_last_w = nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
        except nvml.NVMLError as e:
            if getattr(e, "value", None) == nvml.NVML_ERROR_NOT_SUPPORTED:
                raise MeterUnavailableError(
                    f"{self.device} reports neither an energy counter nor power draw. "
                    "Fix: use --meter estimate --watts <board power> (provenance: estimated)."
                ) from e
            raise nvml_error(nvml, e, f"reading the power of {self.device}") from e
        self._t_last = self._clock()
        self.mode, self.resolution_s = POLLING, max(POLLING_RESOLUTION_S, self._period_s)

    def _is_mig_handle(self) -> bool:
        nvml = self._nvml
        try:
            flag = nvml.nvmlDeviceIsMigDeviceHandle(self._handle)
        except nvml.NVMLError:
            return False  # drivers and GPUs without MIG do not know the question
        return int(getattr(flag, "value", flag)) != 0  # pynvml returns a ctypes c_uint here

    def _caveats(self, env: Mapping[str, str] | None) -> list[str]:
        nvml, notes = self._nvml, []
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(self._handle)
        except nvml.NVMLError:
            current = nvml.NVML_DEVICE_MIG_DISABLE  # GPUs without MIG answer NOT_SUPPORTED
        if current == nvml.NVML_DEVICE_MIG_ENABLE:
            notes.append(
                "MIG is enabled on this GPU: the counter measures the whole board, every MIG instance's work included."
            )
        env = os.environ if env is None else env
        count = int(nvml.nvmlDeviceGetCount())
        if count > 1 and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
            names = {_text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)}
            if len(names) > 1:
                notes.append(
                    "GPUs of different models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may number them "
                    "differently from NVML. Set CUDA_DEVICE_ORDER=PCI_BUS_ID so --gpu N names the same board."
                )
        return notes

    def read(self) -> Reading:
        """Cumulative energy (J) of the board since the meter opened, and the time of the reading."""
        if self._closed:
            raise MeterUnavailableError(f"The NVML meter of {self.device} is closed. Fix: open a new meter.")
        nvml = self._nvml
        if self.mode == COUNTER:
            try:
                raw_mj = int(nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
            except nvml.NVMLError as e:
                raise nvml_error(nvml, e, f"reading the energy counter of {self.device}") from e
            return Reading(energy_j=(raw_mj - self._base_mj) / 1000.0, time_s=self._clock())
        if self._poll_error is not None:
            raise nvml_error(nvml, self._poll_error, f"polling the power of {self.device}") from self._poll_error
        try:
            return self._sample()
        except nvml.NVMLError as e:
            raise nvml_error(nvml, e, f"reading the power of {self.device}") from e

    def _sample(self) -> Reading:
        """Take one power sample and add the trapezoid since the previous one."""
        with self._lock:
            power_w = self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
            t_s = self._clock()
            self._energy_j += 0.5 * (self._p_last_w + power_w) * (t_s - self._t_last)
            self._p_last_w, self._t_last = power_w, t_s
            return Reading(energy_j=self._energy_j, time_s=t_s)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._period_s):
            try:
                self._sample()
            except self._nvml.NVMLError as e:  # surfaced by the next read()
                self._poll_error = e
                return

    def close(self) -> None:
        """Stop the polling thread and shut NVML down (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self._period_s + 1.0)
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass  # nothing to release if NVML is already down

    def __enter__(self) -> NvmlMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
