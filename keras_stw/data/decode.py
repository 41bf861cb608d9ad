"""TF-free frame decoding: video files with OpenCV, JPEG frame folders with OpenCV.

Only numpy and cv2 are imported here, so the module runs where TensorFlow is absent
(a PyTorch or JAX training machine). Every failure raises `DecodeError` naming the file.
"""

import os
import string

import cv2
import numpy as np

from keras_stw.data.errors import DecodeError

# mmaction2's frame file names: img_00001.jpg, img_00002.jpg, ...
FRAME_TEMPLATE = "img_{:05d}.jpg"
# A gap larger than this many frames is crossed by seeking instead of grabbing:
# seeking costs a keyframe decode, grabbing costs one decode per skipped frame.
SEEK_THRESHOLD = 48


def is_frame_folder(path: str) -> bool:
    """Returns whether `path` is a folder of frame images rather than a video file."""
    return os.path.isdir(path)


def count_frames(path: str, frame_template: str = FRAME_TEMPLATE, frame_start: int = 1) -> int:
    """Counts the frames of a video file or of a JPEG frame folder.

    For a video, the container's frame count is used; when the container does not
    store one, frames are counted by grabbing them all. For a folder, frames are
    numbered from `frame_start` without gaps: a folder whose numbering has a gap is
    refused, naming the first missing frame, rather than cut short at it.

    Args:
        path: str. A video file or a frame folder.
        frame_template: str. File name pattern of a folder's frames, formatted with
            the frame number: `"{:05d}.jpg"` (Something-Something v1) or
            `"img_{:05d}.jpg"` (mmaction2). Defaults to `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.

    Returns:
        The number of frames, at least 1.

    Raises:
        DecodeError: the file is missing, empty, not a video, or holds no frame; or
            the folder's frame numbering has a gap.

    Example:
    >>> count_frames("demo.mp4")
    280
    """
    if is_frame_folder(path):
        return _count_folder_frames(path, frame_template, frame_start)
    capture = _open_video(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            count = 0
            while capture.grab():
                count += 1
    finally:
        capture.release()
    if count <= 0:
        raise DecodeError(f"{path}: the video holds no decodable frame.")
    return count


def read_frames(
    path: str,
    indices,
    frame_template: str = FRAME_TEMPLATE,
    frame_start: int = 1,
    threads: int | None = None,
) -> np.ndarray:
    """Reads frames of a video file or a frame folder, as uint8 RGB.

    Dispatches to `read_video_frames` or `read_folder_frames`.

    Args:
        path: str. A video file or a frame folder.
        indices: sequence of int. 0-based frame indices, in any order, repeats allowed.
        frame_template: str. Frame file pattern of a folder. Defaults to
            `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.
        threads: int. FFmpeg decoding threads of a video file (see
            `read_video_frames`). Defaults to `None`: OpenCV's choice.

    Returns:
        uint8 array `(len(indices), H, W, 3)`, RGB.

    Example:
    >>> read_frames("frames_img", [0, 4, 9]).shape
    (3, 240, 320, 3)
    """
    if is_frame_folder(path):
        return read_folder_frames(path, indices, frame_template, frame_start)
    return read_video_frames(path, indices, threads)


def read_video_frames(path: str, indices, threads: int | None = None) -> np.ndarray:
    """Decodes the frames at `indices` of a video file with OpenCV.

    Frames are visited in increasing order and each distinct frame is decoded once;
    short gaps are skipped with `grab()` and long ones (more than `SEEK_THRESHOLD`
    frames) by seeking, so a sparse TSN sample of a long video does not decode the
    whole video.

    Args:
        path: str. A video file that OpenCV's FFmpeg backend reads (mp4, avi, webm,
            mkv, ...).
        indices: sequence of int. 0-based frame indices, in any order, repeats allowed.
        threads: int. FFmpeg decoding threads; 1 when many videos are decoded in
            parallel processes, so each core decodes one video. Defaults to `None`:
            OpenCV's choice (all cores).

    Returns:
        uint8 array `(len(indices), H, W, 3)`, RGB.

    Raises:
        DecodeError: the file is missing, empty or not a video, or a requested frame
            cannot be decoded (a truncated or corrupt file).

    Example:
    >>> read_video_frames("demo.mp4", [0, 10, 20]).shape
    (3, 256, 340, 3)
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0 or indices.min() < 0:
        raise ValueError(f"{path}: frame indices must be non-negative. Received: {indices}")
    wanted = np.unique(indices)
    decoded = {}
    capture = _open_video(path, threads)
    try:
        position = 0
        for index in wanted:
            if index - position > SEEK_THRESHOLD:
                capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
                position = int(index)
            while position < index and capture.grab():
                position += 1
            ok, frame = capture.read() if position == index else (False, None)
            if not ok or frame is None:
                break
            position += 1
            decoded[int(index)] = frame
    finally:
        capture.release()
    if len(decoded) < len(wanted):
        missing = [int(i) for i in wanted if int(i) not in decoded]
        raise DecodeError(
            f"{path}: cannot decode frame(s) {missing[:5]} (decoded {len(decoded)} of "
            f"{len(wanted)} requested); the video is truncated or corrupt, or its "
            "frame count is wrong."
        )
    return _stack_rgb(decoded, indices)


def read_folder_frames(
    path: str, indices, frame_template: str = FRAME_TEMPLATE, frame_start: int = 1
) -> np.ndarray:
    """Reads frames of a JPEG frame folder with OpenCV.

    Args:
        path: str. Folder holding one image per frame.
        indices: sequence of int. 0-based frame indices; index `i` is the file
            `frame_template.format(frame_start + i)`.
        frame_template: str. Frame file pattern, `"{:05d}.jpg"` for
            Something-Something v1, `"img_{:05d}.jpg"` for mmaction2's raw frames.
            Defaults to `"img_{:05d}.jpg"`.
        frame_start: int. Number of the first frame. Defaults to `1`.

    Returns:
        uint8 array `(len(indices), H, W, 3)`, RGB.

    Raises:
        DecodeError: a frame file is missing, empty or not a decodable image, or the
            frames differ in size.

    Example:
    >>> read_folder_frames("frames_img", [0, 1]).shape
    (2, 240, 320, 3)
    """
    decoded = {}
    for index in sorted({int(i) for i in indices}):
        file = os.path.join(path, frame_template.format(frame_start + index))
        if not os.path.isfile(file):
            raise DecodeError(
                f"{file}: no such frame file (frame {index + 1} of the folder; does the "
                "annotation give more frames than the folder holds?)."
            )
        try:
            data = np.fromfile(file, dtype=np.uint8)
        except OSError as error:
            raise DecodeError(f"{file}: cannot read the frame ({error}).") from error
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise DecodeError(f"{file}: not a decodable image (empty or corrupt).")
        decoded[index] = image
    if len({image.shape for image in decoded.values()}) > 1:
        raise DecodeError(f"{path}: the frames of the folder differ in size.")
    return _stack_rgb(decoded, indices)


def _stack_rgb(decoded, indices):
    """OpenCV's BGR frames, by index, as one RGB array in `indices` order."""
    rgb = {index: cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for index, frame in decoded.items()}
    return np.stack([rgb[int(i)] for i in indices])


def _count_folder_frames(path, frame_template, frame_start):
    try:
        names = os.listdir(path)
    except OSError as error:
        raise DecodeError(f"{path}: cannot list the frame folder ({error}).") from error
    numbers = {n for n in _frame_numbers(names, frame_template) if n >= frame_start}
    if frame_start not in numbers:
        raise DecodeError(
            f"{path}: no frame named {frame_template.format(frame_start)!r} in the folder "
            f"(check `frame_template` and `frame_start`)."
        )
    count = len(numbers)
    if max(numbers) != frame_start + count - 1:
        missing = min(set(range(frame_start, max(numbers))) - numbers)
        raise DecodeError(
            f"{path}: frame {frame_template.format(missing)!r} is missing, but the folder "
            f"has frames up to {frame_template.format(max(numbers))!r}: its numbering has "
            "a gap."
        )
    return count


def _frame_numbers(names, frame_template):
    """The frame numbers `n` of the names that are `frame_template.format(n)`."""
    (prefix, field, _, _), *rest = string.Formatter().parse(frame_template)
    suffix = "".join(literal for literal, *_ in rest)
    numbers = []
    for name in names:
        middle = name[len(prefix) : len(name) - len(suffix)]
        if field is not None and middle.isdigit() and frame_template.format(int(middle)) == name:
            numbers.append(int(middle))
    return numbers


def _open_video(path: str, threads: int | None = None) -> "cv2.VideoCapture":
    if not os.path.isfile(path):
        raise DecodeError(f"{path}: no such video file.")
    if os.path.getsize(path) == 0:
        raise DecodeError(f"{path}: the video file is empty (0 bytes).")
    parameters = [] if threads is None else [cv2.CAP_PROP_N_THREADS, threads]
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, parameters)
    if not capture.isOpened():
        capture.release()
        raise DecodeError(f"{path}: OpenCV cannot open the file as a video.")
    return capture
