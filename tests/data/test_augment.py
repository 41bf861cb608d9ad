"""Crops, flips with label swaps, and test views, in NumPy and OpenCV."""

import cv2
import numpy as np

from keras_stw.data import (
    crop_and_resize,
    flip_label_map_from_names,
    multi_view_crops,
    read_label_map,
    train_augment,
)


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
    return np.ascontiguousarray(clip.astype(np.uint8))


def test_flip_swaps_label_and_mirrors_frames():
    clip = gradient_clip()
    seen = set()
    for seed in range(16):
        frames, label = train_augment(
            clip,
            0,
            np.random.default_rng(seed),
            image_size=16,
            scales=(1.0,),
            flip=True,
            flip_label_map=[1, 0],
        )
        frames = frames.astype(int)
        increasing = frames[0, 8, -1, 0] > frames[0, 8, 0, 0]
        # Unflipped frames keep the left-dark gradient and label 0; flipped swap both.
        assert increasing == (label == 0)
        seen.add(label)
    assert seen == {0, 1}


def test_one_crop_for_all_frames_and_reproducible():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    clip = np.stack([frame] * 4)

    def augment(seed):
        return train_augment(clip, 0, np.random.default_rng(seed), image_size=24)[0]

    out = augment(5)
    assert out.shape == (4, 24, 24, 3) and out.dtype == np.uint8
    for t in range(1, 4):
        np.testing.assert_array_equal(out[t], out[0])
    np.testing.assert_array_equal(out, augment(5))
    assert not np.array_equal(out, augment(6))


def test_crop_boxes_are_scales_of_the_short_side():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for scale, size in ((1.0, 40), (0.5, 20)):
        for seed in range(8):
            (out,), _ = train_augment(
                frame[None], 0, np.random.default_rng(seed), image_size=size, scales=(scale,)
            )
            # An unresized box of `size` pixels: it is one of the frame's windows.
            windows = [
                frame[top : top + size, left : left + size]
                for top in range(41 - size)
                for left in range(61 - size)
            ]
            assert any(np.array_equal(out, window) for window in windows)


def test_three_crops_are_left_centre_right():
    clip = gradient_clip(frames=2, height=32, width=64)[None]
    views = multi_view_crops(clip, image_size=32, short_side=32, num_crops=3)
    assert views.shape == (3, 2, 32, 32, 3)
    means = views.reshape(3, -1).mean(1)
    assert means[0] < means[1] < means[2]
    # The left crop is exactly the frame's left square.
    np.testing.assert_array_equal(views[0, 0], clip[0, 0, :, :32])


def test_centre_crop_of_resized_short_side():
    clip = gradient_clip(frames=1, height=32, width=64)[None]
    (view,) = multi_view_crops(clip, image_size=16, short_side=32)
    # Short side 32 -> 32, crop 16 of it: the box is the frame's centre 16 x 16.
    np.testing.assert_array_equal(view[0], clip[0, 0, 8:24, 24:40])


def test_crop_and_resize_interpolates_bilinear_or_by_area():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 100, 120, 3), dtype=np.uint8)
    small = crop_and_resize(frames, 10, 20, 60, 60, 40)
    np.testing.assert_array_equal(
        small[1], cv2.resize(frames[1, 10:70, 20:80], (40, 40), interpolation=cv2.INTER_LINEAR)
    )
    # More than twice the output: bilinear would alias, so the pixels are averaged.
    tiny = crop_and_resize(frames, 0, 0, 100, 100, 20)
    np.testing.assert_array_equal(
        tiny[0], cv2.resize(frames[0, :, :100], (20, 20), interpolation=cv2.INTER_AREA)
    )
    flipped = crop_and_resize(frames, 10, 20, 60, 60, 40, flip=True)
    np.testing.assert_array_equal(flipped, small[:, :, ::-1])
