"""`fit_resumable`: an interrupted run ends where an uninterrupted one does, bit for bit."""

import keras
import numpy as np
import pytest

from keras_stw import training
from tests.test_case import TestCase
from tests.training.after_steps import AfterSteps


def preempt():
    raise KeyboardInterrupt("preempted")


def batches_from(step):
    """Batch `k` is a function of `k`: a resumed run can start at any step."""
    while True:
        rng = np.random.default_rng(step)
        yield rng.random((8, 4)).astype("float32"), rng.random((8, 3)).astype("float32")
        step += 1


class ResumeTest(TestCase):
    def build(self):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(16), keras.layers.Dropout(0.5)]
            + [keras.layers.Dense(3)]
        )
        recipe = training.Recipe(learning_rate=0.1, milestones=(2,), epochs=3, batch_size=8)
        model.compile(recipe.optimizer(steps_per_epoch=5), "mse")
        return model

    def test_an_interrupted_run_ends_where_an_uninterrupted_one_does(self):
        args = {"epochs": 3, "steps_per_epoch": 5, "save_freq": 2, "verbose": 0}
        reference = training.fit_resumable(
            self.build, batches_from, directory=self.get_temp_dir() + "/a", **args
        )
        directory = self.get_temp_dir() + "/b"
        # Backups come at steps 2 and 4 of each epoch and at its end: global steps 2,
        # 4, 5, 7, 9, ...; stopped after step 8, the last one is epoch 1, step 2.
        with self.assertRaises(KeyboardInterrupt):
            training.fit_resumable(
                self.build,
                batches_from,
                directory=directory,
                callbacks=[AfterSteps(8, preempt)],
                **args,
            )
        checkpoint = training.TrainingCheckpoint(directory, steps_per_epoch=5)
        self.assertEqual(checkpoint.saved_position(), (1, 2))
        resumed = training.fit_resumable(self.build, batches_from, directory=directory, **args)
        self.assertEqual(int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)), 15)
        # The same batches and the same dropout masks: the same weights.
        for expected, actual in zip(reference.weights, resumed.weights, strict=True):
            self.assertAllEqual(expected, actual)
        # A finished run is not trained again.
        again = training.fit_resumable(self.build, batches_from, directory=directory, **args)
        self.assertEqual(int(keras.ops.convert_to_numpy(again.optimizer.iterations)), 15)

    def test_resuming_with_other_settings_is_refused_naming_both(self):
        directory = self.get_temp_dir()
        args = {"epochs": 1, "steps_per_epoch": 2, "verbose": 0}
        training.fit_resumable(
            self.build, batches_from, directory=directory, config={"frames": 4, "lr": 1}, **args
        )
        with self.assertRaisesRegex(ValueError, "steps_per_epoch=2"):
            training.TrainingCheckpoint(directory, steps_per_epoch=3).restore()
        with self.assertRaisesRegex(ValueError, "saved with frames=4; this run asks for frames=8"):
            training.fit_resumable(
                self.build, batches_from, directory=directory, config={"frames": 8, "lr": 1}, **args
            )


def test_save_model_writes_atomically_with_extra_files(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = training.save_model(model, str(tmp_path / "sub" / "m.keras"), {"note.json": "{}"})
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m.keras"]
    assert keras.saving.load_model(path).output_shape == (None, 1)
    with pytest.raises(ValueError, match="must end in '.keras'"):
        training.save_model(model, str(tmp_path / "m.h5"))


def test_clips_per_second_is_logged_for_every_epoch(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    log = tmp_path / "log.csv"
    history = model.fit(
        np.ones((20, 2)),
        np.ones((20, 1)),
        batch_size=4,
        epochs=2,
        callbacks=[training.ClipsPerSecond(4), keras.callbacks.CSVLogger(str(log))],
        verbose=0,
    )
    rates = history.history["clips_per_second"]
    assert len(rates) == 2 and all(rate > 0 for rate in rates)
    assert log.read_text().splitlines()[0].split(",")[1] == "clips_per_second"
    short = model.fit(
        np.ones((4, 2)),
        np.ones((4, 1)),
        batch_size=4,
        callbacks=[training.ClipsPerSecond(4)],
        verbose=0,
    )
    assert np.isnan(short.history["clips_per_second"][0])


def _rate_of_calls(steps, warmup_steps):
    """The rate `ClipsPerSecond` logs when its step ends are called in `steps`' order,
    as Keras's threads may call them (each later call reads a later clock)."""
    rate = training.ClipsPerSecond(4, warmup_steps=warmup_steps)
    rate.set_params({"steps": max(steps)})
    rate.on_epoch_begin(0)
    for step in steps:
        rate.on_train_batch_end(step - 1, {})
    logs = {}
    rate.on_epoch_end(0, logs)
    return logs["clips_per_second"]


def test_clips_per_second_stays_positive_when_step_ends_come_out_of_order():
    # The warm-up step's call last: its clock read is after the last step's.
    assert _rate_of_calls([1, 3, 4, 5, 2], warmup_steps=2) > 0
    assert _rate_of_calls([1, 2, 5, 4, 3], warmup_steps=2) > 0
    # No warm-up: timed from the epoch's start.
    assert _rate_of_calls([2, 1], warmup_steps=0) > 0
    assert np.isnan(_rate_of_calls([2, 1], warmup_steps=2))


def test_backup_and_rate_leave_keras_free_to_run_steps_ahead(tmp_path):
    """Steps wait for one another only where Keras itself runs callbacks in line."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callbacks = keras.callbacks.CallbackList(
        [
            training.ClipsPerSecond(4),
            training.TrainingCheckpoint(str(tmp_path), steps_per_epoch=10, save_freq=3),
            keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        ],
        model=model,
    )
    # Keras's own flag: no callback needs the end of each step. TensorFlow's backend
    # is not thread-safe, so Keras runs callbacks in line there whatever they are.
    assert callbacks._async_train == (keras.backend.backend() != "tensorflow")
