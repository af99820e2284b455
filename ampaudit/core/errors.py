"""Exceptions raised by ampaudit."""

from __future__ import annotations

__all__ = ["ConfigError", "check_range"]


class ConfigError(ValueError):
    """A configuration field holds a value outside what is allowed.

    The message always names the field, the value and what is allowed, so one
    line tells the user what to change.

    Parameters
    ----------
    field : str
        Dotted config path, e.g. ``"world.n_users"``.
    value : object
        The offending value.
    allowed : str
        Human-readable description of the allowed values.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: expected {allowed}")


def check_range(
    field: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high`` (bounds optional).

    Parameters
    ----------
    field : str
        Dotted config path used in the message.
    value : float
        Value to check.
    low, high : float, optional
        Bounds; ``None`` means unbounded on that side.
    low_open, high_open : bool, default=False
        Make the corresponding bound strict.

    Examples
    --------
    >>> check_range("world.n_users", 10, low=1)
    >>> check_range("world.n_users", -5, low=1)
    Traceback (most recent call last):
    ...
    ampaudit.core.errors.ConfigError: world.n_users=-5 is not allowed: expected a number >= 1
    """
    ok = True
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if ok:
        return
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    raise ConfigError(field, value, "a number " + " and ".join(parts))
