"""Argument checks shared by the layers, the models and the exporters."""

import math


def check_positive_int(name: str, value, minimum: int = 1, why: str = "") -> int:
    """Returns `value` if it is an integer of at least `minimum`; raises otherwise.

    `bool` is refused although it is an `int` subclass: `num_frames=True` is a mistake,
    not one frame.

    Args:
        name: str. The argument's name, as the caller's signature spells it.
        value: the received value.
        minimum: int. The smallest allowed value. Defaults to `1`.
        why: str. An optional clause after the requirement, such as
            `", TF Serving's version folder"`. Defaults to `""`.

    Returns:
        `value`, unchanged.

    Example:
    >>> check_positive_int("num_frames", 8)
    8
    >>> check_positive_int("num_frames", 0)
    Traceback (most recent call last):
    ValueError: `num_frames` must be a positive integer. Received: num_frames=0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        requirement = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"`{name}` must be {requirement}{why}. Received: {name}={value!r}")
    return value


def check_number(
    name: str,
    value,
    low: float,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """Returns `value` if it is a finite number from `low` to `high`; raises otherwise.

    NaN and infinity are refused.

    Args:
        name: str. The argument's name, as the caller's signature spells it.
        value: the received value.
        low: float. The smallest allowed value.
        high: float. The largest allowed value. Defaults to `math.inf`: no bound.
        open_low: bool. Whether `low` itself is refused. Defaults to `False`.
        open_high: bool. Whether `high` itself is refused. Defaults to `False`.

    Returns:
        `value`, unchanged.

    Example:
    >>> check_number("momentum", 0.9, 0, 1)
    0.9
    >>> check_number("learning_rate", -0.1, 0, open_low=True)
    Traceback (most recent call last):
    ValueError: `learning_rate` must be a number in (0, inf). Received: learning_rate=-0.1
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    inside = number and math.isfinite(value) and low <= value <= high
    if not inside or (open_low and value == low) or (open_high and value == high):
        closed = high < math.inf and not open_high
        interval = f"{'(' if open_low else '['}{low}, {high}{']' if closed else ')'}"
        raise ValueError(f"`{name}` must be a number in {interval}. Received: {name}={value!r}")
    return value


# Public: the programs check their flags with these too.
__all__ = ["check_number", "check_positive_int"]
