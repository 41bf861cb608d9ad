"""`ClipSpec`: the per-clip work, its checks and its outputs."""

import json

import numpy as np
import pytest

from keras_stw.data import ClipSpec, VideoRecord, crop_and_resize, load_clip


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_frames": 0}, "num_frames=0"),
        ({"image_size": 2.5}, "image_size=2.5"),
        ({"sampling": "random"}, "sampling='random'"),
        ({"num_crops": 2}, "num_crops=2"),
        ({"training": True, "num_clips": 10}, "num_clips=10"),
    ],
)
def test_bad_options_name_themselves(options, message):
    with pytest.raises(ValueError, match=message):
        ClipSpec(**options)


def test_training_clip(real_media):
    spec = ClipSpec(num_frames=4, training=True, image_size=32, flip=True, flip_label_map=[1, 0])
    clip, label = spec.load(VideoRecord(str(real_media / "demo.mp4"), 0), seed=[1, 2])
    assert clip.shape == spec.clip_shape == (4, 32, 32, 3) and clip.dtype == np.uint8
    assert label in (0, 1)
    again, _ = spec.load(VideoRecord(str(real_media / "demo.mp4"), 0), seed=[1, 2])
    np.testing.assert_array_equal(clip, again)


def test_test_views_and_replace(real_media):
    train = ClipSpec(num_frames=2, training=True, image_size=16, flip=True)
    test = train.replace(training=False, flip=False, num_clips=2, num_crops=3, short_side=16)
    views, label = test.load(VideoRecord(str(real_media / "test.avi"), 5))
    assert views.shape == test.clip_shape == (6, 2, 16, 16, 3) and label == 5
    # View 1 is clip 0's centre crop: the 240 x 240 centre of the 320 x 240 frames.
    frames = load_clip(str(real_media / "test.avi"), num_frames=2, training=False, num_clips=2)
    np.testing.assert_array_equal(views[1], crop_and_resize(frames[:2], 0, 40, 240, 240, 16))
    np.testing.assert_array_equal(views[3], crop_and_resize(frames[2:], 0, 0, 240, 240, 16))


@pytest.mark.parametrize(
    "spec",
    [
        ClipSpec(),
        ClipSpec(num_frames=4, training=True, sampling="dense", frame_interval=2, flip=True,
                 flip_label_map=[1, 0], scales=[1.0, 0.5], frame_template="{:05d}.jpg"),
    ],
)  # fmt: skip
def test_a_spec_round_trips_through_json(spec):
    config = json.loads(json.dumps(spec.get_config()))
    assert ClipSpec.from_config(config) == spec
    assert ClipSpec.from_config({}) == ClipSpec()


@pytest.mark.parametrize(
    "config, message", [({"speed": 2}, "unknown: \\['speed'\\]"), ([8], "clip_spec=\\[8\\]")]
)
def test_a_config_that_is_no_spec_is_refused(config, message):
    with pytest.raises(ValueError, match=message):
        ClipSpec.from_config(config)


def test_for_testing_keeps_the_recipe_and_drops_the_randomness():
    train = ClipSpec(num_frames=4, training=True, sampling="dense", flip=True, flip_label_map=[0])
    test = train.for_testing(num_clips=10, num_crops=3)
    assert test == ClipSpec(num_frames=4, sampling="dense", num_clips=10, num_crops=3)


def test_load_clip_takes_a_spec_or_its_fields(real_media):
    path = str(real_media / "test.avi")
    spec = ClipSpec(num_frames=3, sampling="dense", frame_interval=2, num_clips=2)
    frames = load_clip(path, spec)
    assert frames.shape[0] == 6
    fields = {"num_frames": 3, "sampling": "dense", "frame_interval": 2, "num_clips": 2}
    np.testing.assert_array_equal(frames, load_clip(path, training=False, **fields))
    one = load_clip(path, spec, num_clips=1)  # Keywords replace the spec's fields.
    np.testing.assert_array_equal(one, load_clip(path, **{**fields, "num_clips": 1}))
    assert one.shape[0] == 3
