"""The per-clip work of every pipeline, TF-free: record -> sample -> decode -> crop.

`load_clip` counts a video's frames, samples indices and decodes only those frames;
`ClipSpec` describes a whole clip (frames, sampling, crops, flips) and makes one from a
record and a seed. Only NumPy and OpenCV run here, so the same `ClipSpec.load` feeds the
`tf.data` and the Grain engines of `video_dataset`, evaluation and prediction, on any
backend: the same record and seed give the same pixels everywhere.
"""

import dataclasses

import numpy as np

from keras_stw.data import augment, decode
from keras_stw.data.annotations import VideoRecord
from keras_stw.data.sampling import SAMPLINGS, sample_indices
from keras_stw.validation import check_positive_int


def load_clip(
    path: str,
    spec: "ClipSpec | None" = None,
    *,
    rng: np.random.Generator | None = None,
    total: int | None = None,
    threads: int | None = None,
    **fields,
) -> np.ndarray:
    """Reads the frames of a spec's `num_clips` sampled clips of one video, uncropped.

    Each distinct frame is decoded once, even when clips overlap or short videos
    repeat frames. The spec says which frames: `num_frames`, `training`, `sampling`,
    `frame_interval`, `num_clips`, `frame_template` and `frame_start`; its crop
    fields are `ClipSpec.load`'s.

    Args:
        path: str. Video file or JPEG frame folder.
        spec: `ClipSpec`. The clip recipe. Defaults to `None`: `ClipSpec(**fields)`.
        rng: `np.random.Generator`. Needed when `spec.training`. Defaults to `None`.
        total: int. The video's frame count if known (from the annotation).
            Defaults to `None`: counted with `decode.count_frames`.
        threads: int. FFmpeg decoding threads of a video file. Defaults to `None`:
            OpenCV's choice.
        **fields: `ClipSpec` fields that replace the spec's, e.g. `num_frames=8,
            training=False` (keras-stw 0.1.0's keywords).

    Returns:
        uint8 RGB array `(num_clips * num_frames, H, W, 3)`, clip after clip.

    Raises:
        DecodeError: the video cannot be read; the message names the file.

    Example:
    >>> load_clip("demo.mp4", ClipSpec(num_frames=8)).shape
    (8, 256, 340, 3)
    >>> load_clip("demo.mp4", num_frames=8, training=False).shape
    (8, 256, 340, 3)
    """
    spec = ClipSpec(**fields) if spec is None else spec.replace(**fields)
    if not total:
        total = decode.count_frames(path, spec.frame_template, spec.frame_start)
    indices = sample_indices(
        total,
        spec.num_frames,
        sampling=spec.sampling,
        training=spec.training,
        rng=rng,
        frame_interval=spec.frame_interval,
        num_clips=spec.num_clips,
    )
    return decode.read_frames(
        path, indices.reshape(-1), spec.frame_template, spec.frame_start, threads=threads
    )


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What a clip is and how to make one from a video: the per-clip work.

    Training clips are TSN-sampled (a random frame per segment) or densely sampled,
    multi-scale cropped to `image_size` with one box per clip and optionally flipped
    (with `flip_label_map` swapping direction classes). Test clips take the centre
    frames and a centre crop of the short side resized to `short_side`; with
    `num_clips * num_crops > 1` a video gives that many views (the 10 x 3 protocol of
    Kinetics, UCF101, HMDB51).

    Args:
        num_frames: int. Frames per clip, `T`. Defaults to `8`.
        training: bool. Random sampling and augmentation (`True`) or test views.
            Defaults to `False`.
        image_size: int. Output frame height and width. Defaults to `224`.
        short_side: int. Short side the test crops are cut from. Defaults to `256`.
        sampling: str. `"segment"` (TSN) or `"dense"`. Defaults to `"segment"`.
        frame_interval: int. Step between densely sampled frames. Defaults to `1`.
        num_clips: int. Test views along time (e.g. 10). Defaults to `1`.
        num_crops: int. Test crops, 1 (centre) or 3 (left, centre, right).
            Defaults to `1`.
        scales: tuple of float. Multi-scale crop sizes relative to the short side.
            Defaults to `TSN_SCALES` (1, .875, .75, .66).
        flip: bool. Random horizontal flips when training. Defaults to `False`.
        flip_label_map: tuple of int. Label of a flipped clip per label, see
            `flip_label_map_from_names`; `None` keeps labels. Defaults to `None`.
        frame_template: str. Frame file pattern of frame folders: `"{:05d}.jpg"`
            (Something-Something v1) or `"img_{:05d}.jpg"` (mmaction2). Defaults to
            `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.

    Example:
    >>> spec = ClipSpec(num_frames=8, training=True, flip=True)
    >>> clip, label = spec.load(VideoRecord("demo.mp4", 3), seed=0)
    >>> clip.shape
    (8, 224, 224, 3)
    """

    num_frames: int = 8
    training: bool = False
    image_size: int = 224
    short_side: int = 256
    sampling: str = "segment"
    frame_interval: int = 1
    num_clips: int = 1
    num_crops: int = 1
    scales: tuple = augment.TSN_SCALES
    flip: bool = False
    flip_label_map: tuple | None = None
    frame_template: str = decode.FRAME_TEMPLATE
    frame_start: int = 1

    def __post_init__(self):
        for name in ("num_frames", "image_size", "short_side", "frame_interval", "num_clips"):
            check_positive_int(name, getattr(self, name))
        if self.sampling not in SAMPLINGS:
            raise ValueError(
                f"`sampling` must be one of {SAMPLINGS}. Received: sampling={self.sampling!r}"
            )
        if self.num_crops not in augment.NUM_CROPS:
            raise ValueError(f"`num_crops` must be 1 or 3. Received: num_crops={self.num_crops!r}")
        if self.training and self.views > 1:
            raise ValueError(
                "Test views are for evaluation: use `num_clips=1, num_crops=1` when "
                f"training. Received: num_clips={self.num_clips}, num_crops={self.num_crops}"
            )
        # Stored as tuples, so a spec is hashable and pickles small.
        object.__setattr__(self, "scales", tuple(self.scales))
        if self.flip_label_map is not None:
            object.__setattr__(self, "flip_label_map", tuple(self.flip_label_map))

    def get_config(self) -> dict:
        """The spec as a JSON-serializable dict: what a `.keras` file saves.

        `VideoResNet(clip_spec=...)` stores it in its config, so the recipe of a
        model's clips travels with its weights.

        Returns:
            dict. Every field, tuples as lists.

        Example:
        >>> ClipSpec.from_config(ClipSpec(sampling="dense").get_config())
        ClipSpec(num_frames=8, ..., sampling='dense', ...)
        """
        config = dataclasses.asdict(self)
        config["scales"] = list(self.scales)
        if self.flip_label_map is not None:
            config["flip_label_map"] = list(self.flip_label_map)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "ClipSpec":
        """Makes a spec from `get_config`'s dict.

        Args:
            config: dict. Fields of `ClipSpec`; those left out take their defaults.

        Returns:
            `ClipSpec`.

        Raises:
            ValueError: `config` is no dict or names a field `ClipSpec` does not have.

        Example:
        >>> ClipSpec.from_config({"num_frames": 16, "sampling": "dense"}).num_frames
        16
        """
        fields = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(config, dict) or not set(config) <= fields:
            unknown = sorted(set(config) - fields) if isinstance(config, dict) else config
            raise ValueError(
                f"A clip spec's config is a dict of fields among {sorted(fields)}. "
                f"Received: clip_spec={config!r} (unknown: {unknown!r})"
            )
        return cls(**config)

    def for_testing(self, num_clips: int = 1, num_crops: int = 1) -> "ClipSpec":
        """The test views of the clips this spec makes: same frames, sampling and sizes.

        Training's randomness (sampling, crops, flips) is off, and `num_clips x
        num_crops` views are cut as evaluation protocols ask.

        Args:
            num_clips: int. Views along time. Defaults to `1`.
            num_crops: int. Crops across the frame, 1 or 3. Defaults to `1`.

        Returns:
            `ClipSpec` with `training=False`.

        Example:
        >>> ClipSpec(training=True, flip=True).for_testing(10, 3).views
        30
        """
        return self.replace(
            training=False,
            flip=False,
            flip_label_map=None,
            num_clips=num_clips,
            num_crops=num_crops,
        )

    def replace(self, **changes) -> "ClipSpec":
        """Returns a copy with `changes`, e.g. the test clips of a training spec.

        Example:
        >>> ClipSpec(training=True, flip=True).replace(training=False, flip=False)
        """
        return dataclasses.replace(self, **changes)

    @property
    def views(self) -> int:
        """Test views per video, `num_clips * num_crops`."""
        return self.num_clips * self.num_crops

    @property
    def clip_shape(self) -> tuple:
        """Shape of one video's output: `(T, S, S, 3)`, or `(views, T, S, S, 3)`."""
        frame = (self.num_frames, self.image_size, self.image_size, 3)
        return frame if self.views == 1 else (self.views, *frame)

    def load(
        self, record: VideoRecord, seed=None, threads: int | None = None
    ) -> tuple[np.ndarray, int]:
        """Makes the clip of one video: sample, decode, crop (and flip).

        Args:
            record: `VideoRecord`. The video, its label and its frame count if known.
            seed: int or sequence of int. Seed of the sampling and the augmentation;
                unused by test clips, which are deterministic. Defaults to `None`.
            threads: int. FFmpeg decoding threads of a video file. Defaults to
                `None`: OpenCV's choice.

        Returns:
            `(clip, label)`: uint8 array of shape `clip_shape` and int.

        Raises:
            keras_stw.data.DecodeError: the video cannot be read; the message names
                the file.
        """
        rng = np.random.default_rng(seed) if self.training else None
        frames = load_clip(record.path, self, rng=rng, total=record.total_frames, threads=threads)
        if self.training:
            return augment.train_augment(
                frames,
                record.label,
                rng,
                image_size=self.image_size,
                scales=self.scales,
                flip=self.flip,
                flip_label_map=self.flip_label_map,
            )
        clips = frames.reshape(self.num_clips, self.num_frames, *frames.shape[1:])
        views = augment.multi_view_crops(
            clips,
            image_size=self.image_size,
            short_side=self.short_side,
            num_crops=self.num_crops,
        )
        return views.reshape(self.clip_shape), record.label
