"""TSN segment and dense sampling, short videos and test views."""

import numpy as np
import pytest

from keras_stw.data import dense_indices, sample_indices, segment_indices


def test_segment_test_takes_centres():
    np.testing.assert_array_equal(
        segment_indices(80, 8, training=False), [[5, 15, 25, 35, 45, 55, 65, 75]]
    )


def test_segment_training_takes_one_random_frame_per_segment():
    rng = np.random.default_rng(0)
    draws = np.concatenate([segment_indices(80, 8, training=True, rng=rng) for _ in range(200)])
    segment = np.arange(8) * 10
    assert np.all(draws >= segment) and np.all(draws < segment + 10)
    # Every frame of a segment gets drawn: positions are uniform, not fixed.
    assert all(len(np.unique(draws[:, t])) == 10 for t in range(8))


def test_training_is_reproducible_by_seed():
    def draw(seed):
        return segment_indices(300, 8, training=True, rng=np.random.default_rng(seed))

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))


@pytest.mark.parametrize("sampling", ["segment", "dense"])
@pytest.mark.parametrize("training", [True, False])
def test_short_videos_repeat_frames(sampling, training):
    indices = sample_indices(
        3, 8, sampling=sampling, training=training, rng=np.random.default_rng(0)
    )
    assert indices.shape == (1, 8)
    assert indices.min() >= 0 and indices.max() <= 2
    assert set(indices[0]) == {0, 1, 2}


def test_short_segment_video_keeps_order():
    np.testing.assert_array_equal(segment_indices(3, 8, training=False), [[0, 0, 0, 1, 1, 2, 2, 2]])


def test_dense_training_clip_is_contiguous_and_fits():
    rng = np.random.default_rng(1)
    for _ in range(50):
        (clip,) = dense_indices(40, 8, frame_interval=4, training=True, rng=rng)
        np.testing.assert_array_equal(np.diff(clip), 4)
        assert clip[0] >= 0 and clip[-1] <= 39


def test_dense_test_views_spread_evenly():
    clips = dense_indices(100, 4, frame_interval=2, training=False, num_clips=3)
    np.testing.assert_array_equal(clips[:, 0], [15, 46, 77])
    np.testing.assert_array_equal(clips[0], [15, 17, 19, 21])


def test_segment_test_views_tile_each_segment():
    clips = segment_indices(40, 4, training=False, num_clips=2)
    np.testing.assert_array_equal(clips, [[2, 12, 22, 32], [7, 17, 27, 37]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sampling": "random"}, "sampling"),
        ({"training": True}, "rng"),
        ({"training": True, "rng": np.random.default_rng(0), "num_clips": 2}, "one clip"),
        ({"num_clips": 0}, "num_clips"),
        ({"sampling": "dense", "frame_interval": 0}, "frame_interval"),
    ],
)
def test_invalid_arguments(kwargs, match):
    kwargs = {"training": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample_indices(10, 4, **kwargs)
