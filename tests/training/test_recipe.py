"""The paper's recipe: presets and the step learning-rate schedule."""

import numpy as np
import pytest

from keras_stw import training
from tests.test_case import TestCase


class RecipeTest(TestCase):
    def test_step_decay_changes_rate_at_the_milestone_epochs(self):
        schedule = training.step_decay(0.01, (3, 5), steps_per_epoch=10)
        rates = [float(schedule(step)) for step in (0, 29, 30, 49, 50, 99)]
        self.assertAllClose(rates, [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])

    def test_presets_are_the_papers(self):
        paper, finetune = training.PRESETS["paper"], training.PRESETS["finetune"]
        self.assertEqual(
            (paper.learning_rate, paper.milestones, paper.epochs, paper.batch_size),
            (0.01, (30, 40, 45), 50, 64),
        )
        self.assertEqual((finetune.learning_rate, finetune.milestones), (0.001, (15, 30, 45)))
        optimizer = paper.replace(learning_rate=0.1, epochs=None).optimizer(steps_per_epoch=2)
        self.assertEqual((optimizer.momentum, optimizer.weight_decay), (0.9, 5e-4))
        self.assertAllClose(float(optimizer.learning_rate), 0.1)


@pytest.mark.parametrize(
    "change",
    [
        {"learning_rate": -0.01},
        {"learning_rate": float("nan")},
        {"milestones": (0, 10)},
        {"epochs": 0},
        {"batch_size": 0},
        {"momentum": 1.0},
        {"weight_decay": -1e-4},
        {"clipnorm": 0.0},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_recipe_no_run_can_mean_is_refused_by_name(change):
    name = next(iter(change))
    with pytest.raises(ValueError, match=f"`{name}` must be .*Received: {name}="):
        training.PRESETS["paper"].replace(**change)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: training.step_decay(-0.1, (3,), steps_per_epoch=10), "learning_rate"),
        (lambda: training.step_decay(0.1, (3,), steps_per_epoch=10, factor=0), "factor"),
        (lambda: training.ClipsPerSecond(0), "batch_size"),
        (lambda: training.ClipsPerSecond(8, warmup_steps=-1), "warmup_steps"),
        (lambda: training.recalibrate_batch_norm(None, np.ones((4, 2)), 0), "batch_size"),
    ],
    ids=["step_decay-lr", "step_decay-factor", "rate-batch", "rate-warmup", "recalibrate"],
)
def test_training_parts_refuse_values_by_name(call, name):
    with pytest.raises(ValueError, match=f"`{name}` must be"):
        call()
