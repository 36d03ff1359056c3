"""The one error hierarchy of green-estimate.

Every error a user can fix derives from :class:`GreenEstimateError`; the CLI catches that base once,
prints its message to stderr and exits 1 (or 2 for :class:`UsageError`). Each subclass stands for one
thing the user must do differently, and each message says what to do.
"""
from __future__ import annotations


class GreenEstimateError(Exception):
    """Base of every error the user can act on. The message says what to do."""

    exit_code = 1


class UsageError(GreenEstimateError):
    """Bad command-line input (a unit, a budget, a config key): exit code 2."""

    exit_code = 2


class ModelLoadError(GreenEstimateError):
    """The model file or module cannot be loaded, built or run with the given input."""


class MeterUnavailableError(GreenEstimateError):
    """An energy meter cannot be used on this machine (no device, no driver, no library)."""


class MeterPermissionError(MeterUnavailableError):
    """An energy meter exists but cannot be read by this user."""


class ProfileError(GreenEstimateError):
    """A calibration profile is missing, unreadable or of an unknown version."""


class BudgetError(UsageError):
    """A budget or a unit cannot be understood."""


class ConfigError(UsageError):
    """A configuration file (pyproject section, sweep file) is missing a key or has a typo."""


class BaselineError(UsageError):
    """A relative budget's baseline cannot be had: no git repository, an unknown ref, a saved
    document of another kind, or a baseline priced with another profile."""
