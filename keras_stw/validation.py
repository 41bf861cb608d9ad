"""Argument checks shared by the layers, the models and the exporters."""


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
