"""The synthetic temporal benchmarks: real mp4 files, pairs, determinism."""

import numpy as np
import pytest

from keras_stw.data import (
    PAIRS,
    TEMPORAL_PAIRS,
    read_frames,
    render_temporal_pair,
    render_video,
    write_synthetic_dataset,
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    directory = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_dataset(
        str(directory), num_classes=16, videos_per_class=4, total_frames=8, size=(32, 40)
    )


def test_files_and_lists(synthetic):
    train, names = synthetic.read("train")
    val, _ = synthetic.read("val")
    assert names == [name for pair in PAIRS for name in pair]
    assert len(train) == 16 * 3 and len(val) == 16 * 1
    assert sorted(r.label for r in val) == list(range(16))
    frames = read_frames(train[0].path, range(8))
    assert frames.shape == (8, 32, 40, 3)
    assert train[0].total_frames == 8
    assert synthetic.reversal_pairs == len(PAIRS)


def test_pair_videos_are_each_other_reversed(synthetic):
    records, _ = synthetic.read("train")
    by_name = {r.path.rsplit("/", 1)[-1]: r.path for r in records}
    for pair in range(len(PAIRS)):
        forward = read_frames(by_name[f"{2 * pair:02d}_0000.mp4"], range(8)).astype(int)
        backward = read_frames(by_name[f"{2 * pair + 1:02d}_0000.mp4"], range(8))
        # mp4v is lossy, so "the same frames" holds up to compression noise.
        reversed_error = np.abs(forward - backward[::-1]).mean()
        assert reversed_error < 6, PAIRS[pair]
        assert np.abs(forward - backward).mean() > 2 * reversed_error, PAIRS[pair]


def test_render_is_deterministic_by_seed():
    def render(seed):
        return render_video(2, np.random.default_rng(seed), 6, 24, 24)

    np.testing.assert_array_equal(render(1), render(1))
    assert not np.array_equal(render(1), render(2))


def test_motion_happens(synthetic):
    for pair in range(len(PAIRS)):
        frames = render_video(pair, np.random.default_rng(0), 8, 32, 32, distractor=False)
        assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1, PAIRS[pair]


def test_temporal_task_files(tmp_path):
    dataset = write_synthetic_dataset(
        str(tmp_path), task="temporal", num_classes=12, videos_per_class=2, size=24
    )
    train, names = dataset.read("train")
    assert names == [name for pair in TEMPORAL_PAIRS for name in pair]
    assert dataset.reversal_pairs == 4 and len(train) == 12
    assert read_frames(train[0].path, range(16)).shape == (16, 24, 24, 3)


@pytest.mark.parametrize("pair", range(len(TEMPORAL_PAIRS)))
def test_temporal_pairs(pair):
    first, second = render_temporal_pair(pair, np.random.default_rng(pair), 8, 32, 32)
    assert first.shape == second.shape == (8, 32, 32, 3)
    # Reversal pairs are exact reversals; the others are two draws of the scene.
    assert np.array_equal(first[::-1], second) == (pair < 4), TEMPORAL_PAIRS[pair]
    for video in (first, second):
        assert np.abs(np.diff(video.astype(int), axis=0)).mean() > 1, TEMPORAL_PAIRS[pair]


def test_worker_processes_write_the_same_dataset(tmp_path):
    def write(folder, workers):
        options = {"task": "temporal", "num_classes": 4, "videos_per_class": 3, "size": 16}
        return write_synthetic_dataset(str(tmp_path / folder), workers=workers, **options)

    serial, parallel = write("serial", 1), write("parallel", 2)
    for subset in ("train", "val"):
        (ours, _), (theirs, _) = serial.read(subset), parallel.read(subset)
        lengths = [[(r.label, r.total_frames) for r in records] for records in (ours, theirs)]
        assert lengths[0] == lengths[1]
        for mine, other in zip(ours, theirs, strict=True):
            assert mine.path.replace("serial", "parallel") == other.path
            np.testing.assert_array_equal(
                read_frames(mine.path, range(16)), read_frames(other.path, range(16))
            )


@pytest.mark.parametrize(
    "options, match",
    [
        ({"num_classes": 3}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 18}, "num_classes"),
        ({"task": "temporal", "num_classes": 14}, "num_classes"),
        ({"task": "speed"}, "task"),
        ({"workers": 0}, "workers=0"),
    ],
)
def test_invalid_arguments(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        write_synthetic_dataset(str(tmp_path), **options)


def test_num_frames_is_the_deprecated_name_of_total_frames(tmp_path):
    options = {"num_classes": 2, "videos_per_class": 2, "size": 8}
    with pytest.warns(DeprecationWarning, match="total_frames"):
        dataset = write_synthetic_dataset(str(tmp_path), num_frames=3, **options)
    assert {r.total_frames for r in dataset.read("train").records} == {3}


@pytest.mark.parametrize("render", [render_video, render_temporal_pair])
def test_render_takes_num_frames_as_the_deprecated_name_of_total_frames(render):
    with pytest.warns(DeprecationWarning, match="total_frames") as caught:
        old = render(0, np.random.default_rng(0), num_frames=6, height=16, width=16)
    # The warning names the caller's line, not the package's.
    assert caught[0].filename == __file__
    new = render(0, np.random.default_rng(0), total_frames=6, height=16, width=16)
    np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match="total_frames=6, num_frames=8"):
        render(0, np.random.default_rng(0), 6, 16, 16, num_frames=8)
