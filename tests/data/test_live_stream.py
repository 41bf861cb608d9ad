"""`LiveStream`: the iterations of a Grain `video_dataset` share one running stream.

`starts` counts the streams started, each of which starts the dataset's worker
processes: before `LiveStream`, every `iter()` started one.
"""

import itertools

import keras
import numpy as np
import pytest

from keras_stw.data import video_dataset

# As in test_dataset.py: under TensorFlow, workers would import TensorFlow for seconds.
WORKERS = 0 if keras.backend.backend() == "tensorflow" else 2


def live_stream(ds):
    # `video_dataset` returns the `LiveStream` with the empty batches filtered out.
    return ds.parents[0]


def batches_of(iterable):
    return [(np.asarray(x), np.asarray(y)) for x, y in iterable]


def assert_same_batches(batches, expected):
    for (x, y), (expected_x, expected_y) in zip(batches, expected, strict=True):
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)


@pytest.mark.parametrize("repeat, starts", [(False, [1, 1, 1, 2]), (True, [1, 2, 3, 5])])
def test_every_iteration_sees_the_batches_of_a_fresh_one(synthetic, repeat, starts):
    """Keras's reads (2 batches for the shapes, 1 to build, the epoch), again, and in step."""
    options = {"num_frames": 2, "training": True, "image_size": 16, "batch_size": 2}
    options.update(seed=1, repeat=repeat, engine="grain", workers=0)
    records = synthetic.read("train")
    # One pass is 4 batches.
    expected = batches_of(itertools.islice(video_dataset(records, **options), 6))
    ds = video_dataset(records, **options)
    seen = []
    for reads in ([2, 1, 6], [6], [6]):
        for count in reads:
            assert_same_batches(batches_of(itertools.islice(ds, count)), expected[:count])
        seen.append(live_stream(ds).starts)
    pairs = list(itertools.islice(zip(ds, ds, strict=True), 6))
    for one in range(2):
        assert_same_batches(batches_of(pair[one] for pair in pairs), expected)
    # A pass that ended, or an iteration stopped within the kept batches, is continued;
    # one that went further is not, and the second of two iterations in step reads
    # a stream of its own from the third batch.
    assert [*seen, live_stream(ds).starts] == starts


def test_fit_starts_training_and_validation_streams_once(synthetic):
    """`fit` with validation: one start each, and the weights and metrics of before."""

    def datasets(workers):
        common = {"num_frames": 2, "image_size": 16, "engine": "grain", "workers": workers}
        train = video_dataset(
            synthetic.read("train"), training=True, batch_size=4, seed=0, repeat=True, **common
        )
        val = video_dataset(synthetic.read("val"), batch_size=2, **common)
        return train, val

    def fit(train, val):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((2, 16, 16, 3)),
                keras.layers.Rescaling(1 / 255),
                keras.layers.GlobalAveragePooling3D(),
                keras.layers.Dense(4),
            ]
        )
        model.compile(
            keras.optimizers.SGD(0.5),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(train, validation_data=val, epochs=3, steps_per_epoch=2, verbose=0)
        return model.get_weights(), history.history

    train, val = datasets(WORKERS)
    weights, history = fit(train, val)
    assert [live_stream(train).starts, live_stream(val).starts] == [1, 1]
    # Before: plain Grain streams of the same batches, which every `iter()` starts anew.
    plain = [live_stream(ds).parents[0] for ds in datasets(0)]
    plain_weights, plain_history = fit(*plain)
    assert history.keys() == plain_history.keys() and len(history["val_loss"]) == 3
    for key in history:
        np.testing.assert_allclose(history[key], plain_history[key], rtol=1e-6)
    for value, plain_value in zip(weights, plain_weights, strict=True):
        np.testing.assert_allclose(value, plain_value, rtol=1e-6)
