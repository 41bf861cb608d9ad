"""Decoding real videos and frame folders, and every unreadable input."""

import shutil

import cv2
import numpy as np
import pytest

from keras_stw.data import DecodeError, count_frames, decode, load_clip, read_frames


@pytest.mark.parametrize(
    "name, total, shape",
    [("demo.mp4", 280, (256, 340)), ("test.avi", 164, (240, 320)), ("frames_img", 10, (240, 320))],
)
def test_count_and_read(real_media, name, total, shape):
    path = str(real_media / name)
    assert count_frames(path) == total
    frames = read_frames(path, [total - 1, 0, 0])
    assert frames.shape == (3, *shape, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[1], frames[2])


@pytest.mark.parametrize("name", ["demo.mp4", "test.avi"])
def test_seeking_reads_the_same_frames_as_decoding_everything(real_media, name):
    path = str(real_media / name)
    total = count_frames(path)
    everything = read_frames(path, range(total))
    # Gaps above `SEEK_THRESHOLD` seek; small gaps grab.
    sparse = [3, total - 1, 2 * decode.SEEK_THRESHOLD + 5, 4, 3]
    np.testing.assert_array_equal(read_frames(path, sparse), everything[sparse])


def test_frames_are_rgb(real_media):
    path = str(real_media / "frames_img")
    bgr = cv2.imread(str(real_media / "frames_img" / "img_00001.jpg"))
    np.testing.assert_array_equal(read_frames(path, [0])[0], bgr[..., ::-1])


def test_something_v1_template(real_media, tmp_path):
    for i in range(1, 11):
        shutil.copy(real_media / "frames_img" / f"img_{i:05d}.jpg", tmp_path / f"{i:05d}.jpg")
    assert count_frames(str(tmp_path), "{:05d}.jpg") == 10
    np.testing.assert_array_equal(
        read_frames(str(tmp_path), [2, 7], "{:05d}.jpg"),
        read_frames(str(real_media / "frames_img"), [2, 7]),
    )
    with pytest.raises(DecodeError, match="no frame named"):
        count_frames(str(tmp_path))


def test_load_clip_samples_then_decodes(real_media):
    path = str(real_media / "demo.mp4")
    clip = load_clip(path, num_frames=4, training=False, num_clips=2)
    assert clip.shape == (8, 256, 340, 3)
    # Clip 0 of 2 takes the frame at a quarter of each 70-frame segment.
    np.testing.assert_array_equal(clip[0], read_frames(path, [17])[0])


def _bad_inputs(real_media, tmp_path):
    data = (real_media / "demo.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 10])
    avi = (real_media / "test.avi").read_bytes()
    (tmp_path / "truncated.avi").write_bytes(avi[: len(avi) // 3])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    shutil.copytree(real_media / "frames_img", tmp_path / "bad_jpeg")
    (tmp_path / "bad_jpeg" / "img_00003.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return {
        "missing": (tmp_path / "missing.mp4", [0], "no such video"),
        "zero-byte": (tmp_path / "empty.mp4", [0], "empty"),
        "text named .mp4": (tmp_path / "text.mp4", [0], "cannot open"),
        "truncated mp4": (tmp_path / "truncated.mp4", [0], "cannot open"),
        "truncated avi": (tmp_path / "truncated.avi", [0, 163], "truncated or corrupt"),
        "unreadable jpeg": (tmp_path / "bad_jpeg", [0, 2], "img_00003.jpg: not a"),
    }


BAD = [
    "missing",
    "zero-byte",
    "text named .mp4",
    "truncated mp4",
    "truncated avi",
    "unreadable jpeg",
]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_raises_naming_the_file(real_media, tmp_path, kind):
    path, indices, reason = _bad_inputs(real_media, tmp_path)[kind]
    with pytest.raises(DecodeError, match=reason) as info:
        read_frames(str(path), indices)
    assert path.name in str(info.value)


def test_a_frame_folder_with_a_gap_is_refused_naming_the_first_missing_frame(real_media, tmp_path):
    folder = tmp_path / "gap"
    shutil.copytree(real_media / "frames_img", folder)
    (folder / "img_00006.jpg").unlink()
    (folder / "notes.txt").write_text("not a frame")
    with pytest.raises(DecodeError, match="'img_00006.jpg' is missing.*'img_00010.jpg'") as info:
        count_frames(str(folder))
    assert str(folder) in str(info.value)
    # The frames before the gap alone are a whole video.
    for name in ("img_00007.jpg", "img_00008.jpg", "img_00009.jpg", "img_00010.jpg"):
        (folder / name).unlink()
    assert count_frames(str(folder)) == 5


def test_an_annotation_with_more_frames_than_the_folder_is_refused(real_media):
    folder = str(real_media / "frames_img")
    with pytest.raises(DecodeError, match=r"frames_img.img_000\d\d.jpg: no such frame file"):
        load_clip(folder, num_frames=4, training=False, total=20)
