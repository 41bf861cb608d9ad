"""The paper's training recipe (TSN's): SGD with momentum, weight decay, step decay."""

import dataclasses

import keras

from keras_stw.training.schedule import step_decay
from keras_stw.validation import check_number, check_positive_int


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyperparameters of a training run; a value no run can mean raises `ValueError`.

    Args:
        learning_rate: float. Initial learning rate.
        milestones: tuple of int. Epochs at which the rate is divided by 10.
        epochs: int. Training epochs.
        batch_size: int. Clips per batch (over all devices).
        momentum: float. SGD momentum. Defaults to `0.9`.
        weight_decay: float. Weight decay. Defaults to `5e-4`.
        clipnorm: float or `None`. Gradient-norm clipping, as TSN's 20. Defaults to
            `20.0`.
    """

    learning_rate: float
    milestones: tuple[int, ...]
    epochs: int
    batch_size: int
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clipnorm: float | None = 20.0

    def __post_init__(self):
        # Refused here, not after a run has trained on them.
        check_number("learning_rate", self.learning_rate, 0, open_low=True)
        for milestone in self.milestones:
            check_positive_int("milestones", milestone)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_number("momentum", self.momentum, 0, 1, open_high=True)
        check_number("weight_decay", self.weight_decay, 0)
        if self.clipnorm is not None:
            check_number("clipnorm", self.clipnorm, 0, open_low=True)

    def replace(self, **changes) -> "Recipe":
        """Returns a copy with `changes`; `None` values keep the current field."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def optimizer(self, steps_per_epoch: int) -> keras.optimizers.SGD:
        """Builds the SGD optimizer with the step-decay schedule.

        Keras applies `weight_decay` as a decoupled decay of the weights (`w -= lr *
        wd * w` each step), which equals the L2 penalty of the paper's SGD up to how
        the decay term enters the momentum.

        Args:
            steps_per_epoch: int. Optimizer steps per epoch, to place the milestones.

        Returns:
            A `keras.optimizers.SGD`.

        Example:
        >>> PRESETS["paper"].optimizer(steps_per_epoch=100).momentum
        0.9
        """
        schedule = step_decay(self.learning_rate, self.milestones, steps_per_epoch)
        return keras.optimizers.SGD(
            learning_rate=schedule,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            clipnorm=self.clipnorm,
        )


PRESETS = {
    # Something-Something and Kinetics-400 from an ImageNet backbone.
    "paper": Recipe(learning_rate=0.01, milestones=(30, 40, 45), epochs=50, batch_size=64),
    # UCF101 / HMDB51 fine-tuned from Kinetics: lr 0.001, / 10 every 15 epochs.
    "finetune": Recipe(learning_rate=0.001, milestones=(15, 30, 45), epochs=50, batch_size=64),
}
