"""`video_dataset` end to end: shapes, views, seeds, bad videos, and `model.fit`."""

import logging
import shutil

import keras
import numpy as np
import pytest

import keras_stw
from keras_stw.data import SkippedVideos, video_dataset, write_synthetic_dataset

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_dataset(
        str(directory), num_classes=4, videos_per_class=6, num_frames=8, size=32
    )


def real_records(real_media):
    return [
        (str(real_media / "demo.mp4"), 0),
        (str(real_media / "test.avi"), 1),
        (str(real_media / "frames_img"), 2),
    ]


def test_training_batches(real_media):
    ds = video_dataset(
        real_records(real_media),
        training=True,
        num_frames=4,
        batch_size=2,
        image_size=48,
        seed=0,
        flip=True,
    )
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(2, 4, 48, 48, 3), (1, 4, 48, 48, 3)]
    assert batches[0][0].dtype == "uint8" and batches[0][1].dtype == "int32"
    assert sorted(np.concatenate([y.numpy() for _, y in batches])) == [0, 1, 2]


@pytest.mark.parametrize("num_clips, num_crops", [(1, 1), (2, 3), (10, 1)])
def test_test_views(real_media, num_clips, num_crops):
    ds = video_dataset(
        real_records(real_media)[:2],
        num_frames=4,
        batch_size=2,
        image_size=32,
        short_side=40,
        num_clips=num_clips,
        num_crops=num_crops,
    )
    clips, labels = next(iter(ds))
    views = num_clips * num_crops
    expected = (2, 4, 32, 32, 3) if views == 1 else (2, views, 4, 32, 32, 3)
    assert tuple(clips.shape) == expected
    np.testing.assert_array_equal(labels, [0, 1])


def test_dense_sampling(real_media):
    ds = video_dataset(
        real_records(real_media),
        sampling="dense",
        clip_len=4,
        num_frames=4,
        frame_interval=2,
        batch_size=3,
        image_size=32,
        training=True,
        seed=1,
    )
    assert tuple(next(iter(ds))[0].shape) == (3, 4, 32, 32, 3)
    with pytest.raises(ValueError, match="clip_len"):
        video_dataset(real_records(real_media), clip_len=8, num_frames=4)


def test_same_seed_same_clips(synthetic):
    def epoch(seed):
        ds = video_dataset(
            synthetic.read("train"),
            training=True,
            num_frames=4,
            batch_size=4,
            image_size=24,
            seed=seed,
            flip=True,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds]

    first, again, other = epoch(7), epoch(7), epoch(8)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


def test_flip_label_map_applies(synthetic):
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
    )
    labels = np.concatenate([y.numpy() for _, y in ds.repeat(3)])
    assert set(labels) == {0, 1}


def bad_videos(real_media, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    data = (real_media / "demo.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 10])
    shutil.copytree(real_media / "frames_img", tmp_path / "frames")
    # Frame 4 is one of the 4 centre frames of 10 (indices 1, 3, 6, 8).
    (tmp_path / "frames" / "img_00004.jpg").write_bytes(b"garbage")
    names = ["missing.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "frames"]
    return {name: str(tmp_path / name) for name in names}


@pytest.mark.parametrize(
    "name", ["missing.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "frames"]
)
def test_bad_video_raises_naming_file_and_line(real_media, tmp_path, name):
    path = bad_videos(real_media, tmp_path)[name]
    list_file = tmp_path / "list.txt"
    list_file.write_text(f"{real_media / 'demo.mp4'} 0\n{path} 1\n")
    records = keras_stw.data.read_list(str(list_file))
    ds = video_dataset(records, num_frames=4, batch_size=2, image_size=16)
    with pytest.raises(Exception, match=name) as info:
        list(ds)
    assert "list.txt:2" in str(info.value)


def test_skip_counts_bad_videos_per_epoch(real_media, tmp_path, caplog):
    bad = list(bad_videos(real_media, tmp_path).values())
    records = [(str(real_media / "test.avi"), 0)] + [(path, 1) for path in bad]
    ds = video_dataset(records, num_frames=4, batch_size=4, image_size=16, on_error="skip")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            batches = list(ds)
            assert len(batches) == 1 and batches[0][1].numpy().tolist() == [0]
    assert ds.skipped.per_epoch == [5, 5] and ds.skipped.total == 10
    assert caplog.text.count("skipped 5 unreadable video(s)") == 2


def test_skip_with_only_bad_videos_fails_instead_of_hanging(real_media, tmp_path):
    bad = list(bad_videos(real_media, tmp_path).values())
    counter = SkippedVideos()
    ds = video_dataset(
        [(path, 0) for path in bad],
        num_frames=4,
        image_size=16,
        on_error="skip",
        repeat=True,
        skipped=counter,
    )
    with pytest.raises(Exception, match="Every video of the pass failed"):
        next(iter(ds))
    assert counter.per_epoch[0] == 5


def test_model_fit_on_synthetic(synthetic):
    train = video_dataset(
        synthetic.read("train"),
        training=True,
        num_frames=4,
        batch_size=4,
        image_size=32,
        seed=0,
    )
    val = video_dataset(synthetic.read("val"), num_frames=4, batch_size=4, image_size=32)
    model = keras_stw.video_resnet(
        "stw", num_frames=4, num_classes=4, input_shape=(32, 32, 3), base_width=4, depth=26
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=1, steps_per_epoch=3, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert 0.0 <= history.history["val_accuracy"][0] <= 1.0
    assert isinstance(model, keras.Model)
