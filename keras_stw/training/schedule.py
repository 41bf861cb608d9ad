"""The paper's step learning-rate schedule, counted in epochs."""

import keras

from keras_stw.validation import check_number


def step_decay(
    learning_rate: float,
    milestones,
    steps_per_epoch: int,
    factor: float = 0.1,
) -> keras.optimizers.schedules.PiecewiseConstantDecay:
    """Learning rate multiplied by `factor` at each epoch of `milestones`.

    The schedule is a function of the optimizer's step counter, which is saved in a
    `.keras` checkpoint, so a resumed run continues with the right rate even when it
    stopped mid-epoch.

    Args:
        learning_rate: float. Rate of the first epochs.
        milestones: sequence of int. Epochs (0-based, counted from the start) at which
            the rate is multiplied by `factor`, e.g. `(30, 40, 45)` (the paper's
            Something-Something and Kinetics recipe).
        steps_per_epoch: int. Optimizer steps per epoch.
        factor: float. Multiplier at each milestone. Defaults to `0.1`.

    Returns:
        A `keras.optimizers.schedules.PiecewiseConstantDecay`.

    Example:
    >>> schedule = step_decay(0.01, (30, 40, 45), steps_per_epoch=100)
    >>> round(float(schedule(3000)), 6)
    0.001
    """
    check_number("learning_rate", learning_rate, 0, open_low=True)
    check_number("factor", factor, 0, open_low=True)
    milestones = sorted(int(m) for m in milestones)
    if steps_per_epoch < 1 or any(m < 1 for m in milestones):
        raise ValueError(
            "`steps_per_epoch` and the milestones must be positive. Received: "
            f"steps_per_epoch={steps_per_epoch}, milestones={milestones}"
        )
    # PiecewiseConstantDecay switches after a boundary step: the first step of epoch
    # `m` is step `m * steps_per_epoch`, the last one at the old rate is one before.
    boundaries = [m * steps_per_epoch - 1 for m in milestones]
    values = [learning_rate * factor**i for i in range(len(milestones) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
