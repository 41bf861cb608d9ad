"""The paper's recipe: presets and the step learning-rate schedule."""

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
