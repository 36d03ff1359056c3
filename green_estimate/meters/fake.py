"""A deterministic meter and clock for tests and CPU rehearsals of GPU scripts.

:class:`FakeMeter` is a real implementation of the meter interface, not a mock: energy is the
integral of a piecewise-constant power that the caller sets, over a clock the caller may drive.
Its provenance is ``estimated`` (the contract knows only measured, estimated and datasheet, and a
fake is certainly not measured); its name ``"fake"`` says what it is.
"""
from __future__ import annotations

from collections.abc import Callable

from green_estimate.errors import MeterUnavailableError, UsageError
from green_estimate.meters.base import ESTIMATED, Reading, monotonic_s


class FakeClock:
    """A clock that moves only when told to.

    Example:
        >>> clock = FakeClock(); clock.advance(2.5); clock()
        2.5
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = float(start_s)

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        self.now_s += seconds

    def sleep(self, seconds: float) -> None:
        """Drop-in for ``time.sleep`` that advances this clock instead of waiting."""
        self.advance(seconds)


class FakeMeter:
    """Energy = ∫ power dt with a power the caller sets; deterministic given the clock.

    Attributes:
        power_w: the current draw; change it with :meth:`set_power_w`.
        reads: how many times :meth:`read` was called (lets tests check a protocol).
        closed: whether :meth:`close` was called.

    Example:
        >>> clock = FakeClock(); meter = FakeMeter(power_w=100.0, clock=clock)
        >>> clock.advance(2.0); meter.read().energy_j
        200.0
    """

    name = "fake"
    provenance = ESTIMATED

    def __init__(
        self,
        power_w: float = 100.0,
        *,
        clock: Callable[[], float] = monotonic_s,
        device: str = "fake device",
        resolution_s: float = 1e-3,
    ) -> None:
        if power_w < 0:
            raise UsageError(f"FakeMeter power_w={power_w} must be >= 0")
        self.power_w = float(power_w)
        self.device = device
        self.resolution_s = resolution_s
        self.reads = 0
        self.closed = False
        self._clock = clock
        self._t_last = clock()
        self._energy_j = 0.0

    def _advance(self) -> float:
        t_s = self._clock()
        self._energy_j += self.power_w * (t_s - self._t_last)
        self._t_last = t_s
        return t_s

    def set_power_w(self, power_w: float) -> None:
        """Change the draw from now on (energy so far is kept at the old power)."""
        if power_w < 0:
            raise UsageError(f"FakeMeter power_w={power_w} must be >= 0")
        self._advance()
        self.power_w = float(power_w)

    def read(self) -> Reading:
        """Cumulative energy since the meter opened."""
        if self.closed:
            raise MeterUnavailableError("The fake meter is closed. Fix: open a new meter.")
        self.reads += 1
        t_s = self._advance()
        return Reading(energy_j=self._energy_j, time_s=t_s)

    def close(self) -> None:
        """Mark the meter closed; later reads raise."""
        self.closed = True

    def __enter__(self) -> FakeMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
