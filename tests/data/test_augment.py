"""Crops, flips with label swaps, and test views."""

import numpy as np
import pytest
import tensorflow as tf

from keras_stw.data import (
    flip_label_map_from_names,
    multi_view_crops,
    read_label_map,
    train_augment,
)

pytestmark = pytest.mark.tf_only


def test_flip_map_swaps_something_something_directions(real_media):
    names = read_label_map(str(real_media / "label_map_sthv2.txt"))
    mapping = flip_label_map_from_names(names)
    left = names.index("Pushing something from left to right")
    right = names.index("Pushing something from right to left")
    assert mapping[left] == right and mapping[right] == left
    holding = names.index("Holding something")
    assert mapping[holding] == holding
    assert sorted(mapping) == list(range(len(names)))


def test_flip_map_extra_swaps():
    names = ["rotating clockwise", "rotating anticlockwise", "moving left"]
    assert flip_label_map_from_names(names) == [0, 1, 2]
    swaps = (("left", "right"), ("clockwise", "anticlockwise"))
    assert flip_label_map_from_names(names, swaps) == [1, 0, 2]


def gradient_clip(frames=3, height=40, width=60):
    x = np.linspace(0, 255, width, dtype=np.float32)
    clip = np.broadcast_to(x[None, None, :, None], (frames, height, width, 3))
    return tf.constant(clip.astype(np.uint8))


def test_flip_swaps_label_and_mirrors_frames():
    clip = gradient_clip()
    seen = set()
    for seed in range(16):
        frames, label = train_augment(
            clip,
            tf.constant(0),
            tf.constant([seed, 0]),
            image_size=16,
            scales=(1.0,),
            flip=True,
            flip_label_map=[1, 0],
        )
        frames = frames.numpy().astype(int)
        increasing = frames[0, 8, -1, 0] > frames[0, 8, 0, 0]
        # Unflipped frames keep the left-dark gradient and label 0; flipped swap both.
        assert increasing == (int(label) == 0)
        seen.add(int(label))
    assert seen == {0, 1}


def test_one_crop_for_all_frames_and_reproducible():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    clip = tf.constant(np.stack([frame] * 4))
    out, _ = train_augment(clip, tf.constant(0), tf.constant([5, 0]), image_size=24)
    again, _ = train_augment(clip, tf.constant(0), tf.constant([5, 0]), image_size=24)
    other, _ = train_augment(clip, tf.constant(0), tf.constant([6, 0]), image_size=24)
    assert out.shape == (4, 24, 24, 3)
    for t in range(1, 4):
        np.testing.assert_array_equal(out[t], out[0])
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)


def test_three_crops_are_left_centre_right():
    clip = gradient_clip(frames=2, height=32, width=64)[None]
    views = multi_view_crops(clip, image_size=32, short_side=32, num_crops=3).numpy()
    assert views.shape == (3, 2, 32, 32, 3)
    means = views.reshape(3, -1).mean(1)
    assert means[0] < means[1] < means[2]
    # The left crop is exactly the frame's left square.
    np.testing.assert_allclose(views[0, 0], clip[0, 0, :, :32].numpy(), atol=1)


def test_centre_crop_of_resized_short_side():
    clip = gradient_clip(frames=1, height=32, width=64)[None]
    (view,) = multi_view_crops(clip, image_size=16, short_side=32).numpy()
    np.testing.assert_allclose(view[0], clip[0, 0, 8:24, 24:40].numpy(), atol=1)
