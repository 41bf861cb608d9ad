"""Video scores under a test protocol, averaged over views and over an ensemble of models."""

from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from keras_stw.evaluation.views import PROTOCOLS, video_views


def model_frames(model: keras.Model) -> tuple[int, int]:
    """`(num_frames, image_size)` a clip model expects, from its input shape."""
    shape = model.input_shape
    if len(shape) != 5 or shape[1] is None or shape[2] is None:
        raise ValueError(
            "Expected a clip model with input (batch, T, H, W, 3) and fixed T and H. "
            f"Received: input_shape={shape}"
        )
    return shape[1], shape[2]


def video_scores(
    models,
    paths,
    *,
    protocol: str = "1x1",
    short_side: int = 256,
    batch_size: int = 8,
    totals=None,
    frame_template: str = "img_{:05d}.jpg",
    workers: int = 4,
) -> np.ndarray:
    """Class scores of each video: the mean over test views and over models.

    Each model reads its own views (its `num_frames` and frame size, from its input
    shape), so an ensemble may mix 8- and 16-frame models, as the paper's "16f + 8f".
    Scores are the models' outputs (probabilities for the zoo's softmax models),
    averaged over the `num_clips x num_crops` views of the protocol, then over models.

    Args:
        models: a `keras.Model` or a list of them, with the same classes.
        paths: sequence of str. Video files or frame folders.
        protocol: str. `"1x1"` (1 clip x 1 centre crop) or `"10x3"` (10 clips x
            3 crops). Defaults to `"1x1"`.
        short_side: int. Short side before cropping. Defaults to `256`.
        batch_size: int. Views per forward pass. Defaults to `8`.
        totals: sequence of int or `None`. Frame counts, if known. Defaults to `None`.
        frame_template: str. Frame file pattern of folders. Defaults to
            `"img_{:05d}.jpg"`.
        workers: int. Videos decoded in parallel threads. Defaults to `4`.

    Returns:
        float32 array `(len(paths), num_classes)`.

    Example:
    >>> scores = video_scores([stw16, stw8], ["a.mp4", "b.mp4"], protocol="10x3")
    >>> scores.shape
    (2, 174)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {list(PROTOCOLS)}. Received: {protocol!r}")
    models = [models] if isinstance(models, keras.Model) else list(models)
    num_classes = {m.output_shape[-1] for m in models}
    if len(num_classes) != 1:
        raise ValueError(f"The ensemble's models differ in classes: {sorted(num_classes)}")
    num_clips, num_crops = PROTOCOLS[protocol]
    totals = totals if totals is not None else [None] * len(paths)
    total_scores = np.zeros((len(paths), num_classes.pop()), np.float64)
    for model in models:
        num_frames, image_size = model_frames(model)

        def views(item, num_frames=num_frames, image_size=image_size):
            path, total = item
            return video_views(
                path,
                num_frames=num_frames,
                image_size=image_size,
                short_side=max(short_side, image_size),
                num_clips=num_clips,
                num_crops=num_crops,
                total=total,
                frame_template=frame_template,
            )

        with ThreadPoolExecutor(workers) as pool:
            for i, clip_views in enumerate(pool.map(views, zip(paths, totals, strict=True))):
                scores = model.predict(clip_views, batch_size=batch_size, verbose=0)
                total_scores[i] += np.asarray(scores, np.float64).mean(0)
    return (total_scores / len(models)).astype(np.float32)
