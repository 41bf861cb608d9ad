"""`video_dataset` end to end, on both engines: shapes, views, seeds, bad videos, fit.

Every test runs on the Grain engine, under every backend, and on the tf.data engine,
which needs TensorFlow itself (`tf_only`). Most make their batches in the calling
process (`workers=0`), since starting worker processes costs seconds; those that test
the parallel engines use `WORKERS`.
"""

import itertools
import logging
import shutil

import keras
import numpy as np
import pytest

import keras_stw
from keras_stw.data import (
    ClipSpec,
    DecodeError,
    SkippedVideos,
    original_errors,
    read_list,
    video_dataset,
    write_synthetic_dataset,
)

ENGINES = [pytest.param("tf", marks=pytest.mark.tf_only), "grain"]
# Grain's worker processes import Keras's backend: TensorFlow's takes seconds each, and
# under TensorFlow the tf.data engine is the one that runs. Workers are tested elsewhere.
WORKERS = 0 if keras.backend.backend() == "tensorflow" else 2


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_dataset(
        str(directory), num_classes=4, videos_per_class=6, total_frames=8, size=32
    )


def real_records(real_media):
    return [
        (str(real_media / "demo.mp4"), 0),
        (str(real_media / "test.avi"), 1),
        (str(real_media / "frames_img"), 2),
    ]


def batches_of(ds):
    return [(np.asarray(x), np.asarray(y)) for x, y in ds]


@pytest.mark.parametrize("engine", ENGINES)
def test_training_batches(real_media, engine):
    ds = video_dataset(
        real_records(real_media),
        num_frames=4,
        training=True,
        batch_size=2,
        image_size=48,
        seed=0,
        flip=True,
        engine=engine,
        workers=WORKERS,
    )
    batches = batches_of(ds)
    assert [x.shape for x, _ in batches] == [(2, 4, 48, 48, 3), (1, 4, 48, 48, 3)]
    assert batches[0][0].dtype == np.uint8 and batches[0][1].dtype == np.int32
    assert sorted(np.concatenate([y for _, y in batches])) == [0, 1, 2]


@pytest.mark.tf_only
def test_both_engines_give_the_same_pixels(synthetic):
    """The same records and seed: the same batches from tf.data and from Grain."""
    options = {"num_frames": 4, "training": True, "flip": True, "image_size": 24}
    options.update(batch_size=4, seed=3, repeat=True, flip_label_map=[1, 0, 3, 2])
    records = synthetic.read("train")
    tf_batches = batches_of(video_dataset(records, engine="tf", **options).take(5))
    for workers in (0, 3):
        ds = video_dataset(records, engine="grain", workers=workers, **options)
        grain_batches = batches_of(itertools.islice(ds, 5))
        for (x1, y1), (x2, y2) in zip(tf_batches, grain_batches, strict=True):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("num_clips, num_crops", [(1, 1), (2, 3), (10, 1)])
def test_test_views(real_media, engine, num_clips, num_crops):
    ds = video_dataset(
        real_records(real_media)[:2],
        num_frames=4,
        batch_size=2,
        image_size=32,
        short_side=40,
        num_clips=num_clips,
        num_crops=num_crops,
        engine=engine,
        workers=0,
    )
    clips, labels = batches_of(ds)[0]
    views = num_clips * num_crops
    expected = (2, 4, 32, 32, 3) if views == 1 else (2, views, 4, 32, 32, 3)
    assert clips.shape == expected
    np.testing.assert_array_equal(labels, [0, 1])


@pytest.mark.parametrize("engine", ENGINES)
def test_dense_sampling(real_media, engine):
    ds = video_dataset(
        real_records(real_media),
        sampling="dense",
        num_frames=4,
        frame_interval=2,
        batch_size=3,
        image_size=32,
        training=True,
        seed=1,
        engine=engine,
        workers=0,
    )
    assert batches_of(ds)[0][0].shape == (3, 4, 32, 32, 3)


def test_clip_options_are_checked_naming_the_argument(real_media):
    records = real_records(real_media)
    with pytest.raises(TypeError, match="clip_len"):
        video_dataset(records, clip_len=8, num_frames=4)
    with pytest.raises(ValueError, match="num_crops"):
        video_dataset(records, num_crops=2)
    with pytest.raises(ValueError, match="not both"):
        video_dataset(records, ClipSpec(), num_frames=4)
    with pytest.raises(ValueError, match="engine"):
        video_dataset(records, engine="torch")
    with pytest.raises(ValueError, match="initial_step"):
        video_dataset(records, initial_step=1)


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_same_clips_other_seed_others(synthetic, engine):
    def epoch(seed):
        ds = video_dataset(
            synthetic.read("train"),
            training=True,
            num_frames=4,
            batch_size=4,
            image_size=24,
            seed=seed,
            flip=True,
            engine=engine,
            workers=0,
        )
        return batches_of(ds)

    first, again, other = epoch(7), epoch(7), epoch(8)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("engine", ENGINES)
def test_initial_step_continues_the_stream(synthetic, engine):
    """A resumed run's batches are the uninterrupted run's, from its step on."""
    options = {"training": True, "num_frames": 2, "batch_size": 5, "image_size": 16}
    options.update(seed=0, repeat=True, engine=engine, workers=0)
    records = synthetic.read("train")
    whole = batches_of(itertools.islice(video_dataset(records, **options), 7))
    resumed = video_dataset(records, initial_step=4, **options)
    for (x, y), expected in zip(batches_of(itertools.islice(resumed, 3)), whole[4:], strict=True):
        np.testing.assert_array_equal(x, expected[0])
        np.testing.assert_array_equal(y, expected[1])
    # Batches straddle passes (a pass is not a whole number of batches); every pass
    # holds each video once, in an order of its own.
    count = len(records.records)
    assert count % 5 and 2 * count <= 35
    labels = np.concatenate([y for _, y in whole])
    assert sorted(labels[:count]) == sorted(labels[count : 2 * count])
    assert not np.array_equal(labels[:count], labels[count : 2 * count])


@pytest.mark.parametrize("engine", ENGINES)
def test_flip_label_map_applies(synthetic, engine):
    # Every flip maps the label to 1 - label: both labels must then appear for class 0.
    records = [r for r in synthetic.read("train").records if r.label == 0]
    ds = video_dataset(
        records,
        training=True,
        num_frames=2,
        batch_size=len(records),
        image_size=16,
        seed=0,
        flip=True,
        flip_label_map=[1, 0, 2, 3],
        repeat=True,
        engine=engine,
        workers=0,
    )
    labels = np.concatenate([y for _, y in batches_of(itertools.islice(ds, 3))])
    assert set(labels) == {0, 1}


def bad_videos(real_media, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    data = (real_media / "demo.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 10])
    shutil.copytree(real_media / "frames_img", tmp_path / "frames")
    # Frame 4 is one of the 4 centre frames of 10 (indices 1, 3, 6, 8).
    (tmp_path / "frames" / "img_00004.jpg").write_bytes(b"garbage")
    shutil.copytree(real_media / "frames_img", tmp_path / "gap")
    (tmp_path / "gap" / "img_00006.jpg").unlink()
    names = ["missing.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "frames", "gap"]
    return {name: str(tmp_path / name) for name in names}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "name", ["missing.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "frames", "gap"]
)
def test_bad_video_raises_naming_file_and_line(real_media, tmp_path, engine, name):
    path = bad_videos(real_media, tmp_path)[name]
    list_file = tmp_path / "list.txt"
    list_file.write_text(f"{real_media / 'demo.mp4'} 0\n{path} 1\n")
    records = read_list(str(list_file))
    # A worker process's error, pickled back to this one, for one kind of bad video.
    workers = WORKERS if name == "missing.mp4" else 0
    ds = video_dataset(
        records, num_frames=4, batch_size=2, image_size=16, engine=engine, workers=workers
    )
    # Grain raises the error itself; from tf.data, `original_errors` unwraps it.
    with pytest.raises(DecodeError, match=name) as info, original_errors():
        batches_of(ds)
    assert "list.txt:2" in str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_skip_counts_bad_test_videos_per_epoch(real_media, tmp_path, caplog, engine):
    bad = list(bad_videos(real_media, tmp_path).values())
    records = [(str(real_media / "test.avi"), 0)] + [(path, 1) for path in bad]
    ds = video_dataset(
        records,
        num_frames=4,
        batch_size=4,
        image_size=16,
        on_error="skip",
        engine=engine,
        workers=0,
    )
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            batches = batches_of(ds)
            assert len(batches) == 1 and batches[0][1].tolist() == [0]
    assert ds.skipped.per_epoch == [6, 6] and ds.skipped.total == 12
    assert caplog.text.count("skipped 6 unreadable video(s)") == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_skip_replaces_bad_training_videos_keeping_batches_full(real_media, tmp_path, engine):
    bad = bad_videos(real_media, tmp_path)
    unreadable = [bad[name] for name in ("missing.mp4", "empty.mp4", "text.mp4", "gap")]
    records = [(str(real_media / "frames_img"), 0)] + [(path, 1) for path in unreadable]
    options = {"num_frames": 2, "batch_size": 5, "image_size": 16, "training": True}
    options.update(on_error="skip", seed=0, engine=engine, workers=0)
    ds = video_dataset(records, **options)
    (clips, labels), *rest = batches_of(ds)
    # One pass of 5 videos, 4 unreadable: each is replaced by the readable one.
    assert not rest and clips.shape == (5, 2, 16, 16, 3) and labels.tolist() == [0] * 5
    assert ds.skipped.per_epoch[0] >= 4
    again = batches_of(video_dataset(records, **options))[0][0]
    np.testing.assert_array_equal(clips, again)


@pytest.mark.parametrize("engine", ENGINES)
def test_skip_with_only_bad_videos_fails_instead_of_hanging(real_media, tmp_path, engine):
    bad = bad_videos(real_media, tmp_path)
    # "frames" and "gap" lose one frame only: a random training clip may miss it.
    bad = [bad[name] for name in ("missing.mp4", "empty.mp4", "text.mp4", "truncated.mp4")]
    for training in (False, True):
        counter = SkippedVideos()
        ds = video_dataset(
            [(path, 0) for path in bad],
            num_frames=4,
            image_size=16,
            training=training,
            on_error="skip",
            repeat=True,
            skipped=counter,
            engine=engine,
            workers=0,
        )
        with pytest.raises(Exception, match="Every video"):
            next(iter(ds))


@pytest.mark.parametrize("engine", ENGINES)
def test_model_fit_on_synthetic(synthetic, engine):
    train = video_dataset(
        synthetic.read("train"),
        training=True,
        num_frames=4,
        batch_size=4,
        image_size=32,
        seed=0,
        repeat=True,
        engine=engine,
        workers=WORKERS,
    )
    val = video_dataset(
        synthetic.read("val"), num_frames=4, batch_size=4, image_size=32, engine=engine, workers=0
    )
    model = keras_stw.video_resnet(
        "stw", num_frames=4, num_classes=4, image_shape=(32, 32, 3), base_width=4, depth=26
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, steps_per_epoch=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert 0.0 <= history.history["val_accuracy"][-1] <= 1.0
    assert isinstance(model, keras.Model)
