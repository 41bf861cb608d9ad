"""Video scores under a test protocol, averaged over views and over an ensemble of models."""

import dataclasses
import os
import zipfile

import keras
import numpy as np

from keras_stw.data import ClipSpec, original_errors, video_dataset
from keras_stw.data.batches import as_records
from keras_stw.evaluation.views import PROTOCOLS
from keras_stw.models import VideoResNet


def model_frames(model: keras.Model) -> tuple[int, int]:
    """`(num_frames, image_size)` a clip model expects.

    A `keras_stw.VideoResNet` knows them; for any other clip model (a `.keras` file of
    keras-stw 0.1.0, a model of your own) they are read from its input shape.

    Args:
        model: a clip `keras.Model`, input `(batch, T, H, W, 3)`.

    Returns:
        `(T, H)`.

    Raises:
        ValueError: the model does not take clips of a fixed length and size, or does
            not output one score vector per clip, `(batch, num_classes)`.

    Example:
    >>> model_frames(keras_stw.create_model("stw_resnet50", num_frames=16))
    (16, 224)
    """
    output = model.output_shape
    if not (isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], int)):
        raise ValueError(
            "Expected a clip classifier, one output of shape (batch, num_classes) "
            f"(not per frame). Received: model '{model.name}' with output_shape={output}"
        )
    if isinstance(model, VideoResNet):
        return model.num_frames, model.image_shape[0]
    shape = model.input_shape
    if len(shape) != 5 or shape[1] is None or shape[2] is None:
        raise ValueError(
            "Expected a clip model with input (batch, T, H, W, 3) and fixed T and H. "
            f"Received: input_shape={shape}"
        )
    return shape[1], shape[2]


def model_clip_spec(model: keras.Model) -> ClipSpec:
    """The recipe of a model's clips: the one saved with it, else `ClipSpec`'s defaults.

    A `VideoResNet` trained by `examples/train.py` carries its `clip_spec` (sampling,
    frame interval, short side, frame file names); a model without one (a `.keras`
    file of keras-stw 0.1.0, a model of your own) gets the defaults keras-stw 0.1.0
    read every model with. Either way the frame count and size are the model's.

    Args:
        model: a clip `keras.Model`, see `model_frames`.

    Returns:
        `ClipSpec` with `training=False`.

    Example:
    >>> model_clip_spec(keras.saving.load_model("runs/dense/model.keras")).sampling
    'dense'
    """
    num_frames, image_size = model_frames(model)
    spec = getattr(model, "clip_spec", None) or ClipSpec()
    return spec.for_testing().replace(num_frames=num_frames, image_size=image_size)


def load_clip_model(path: str) -> keras.Model:
    """Loads a `.keras` clip classifier; a file that holds none raises one error naming it.

    Whatever fails when loading (an empty, truncated or foreign file, a class that no
    imported package registers, a model that takes no clips or gives no class scores)
    is the file's fault: the error names the file and says why in one line, where
    Keras's own error may name no file, say "File not found" for a file that is
    there, or quote the whole model config.

    Args:
        path: str. A `.keras` file.

    Returns:
        The `keras.Model`, its input `(batch, T, H, W, 3)` and output
        `(batch, num_classes)`.

    Raises:
        FileNotFoundError: nothing is at `path`.
        ValueError: the file holds no loadable clip classifier.

    Example:
    >>> model = load_clip_model("runs/stw8/model.keras")
    >>> model_frames(model)
    (8, 224)
    """
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file.")
    # Keras reports a file that is no zip archive as "File not found".
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a .keras file, which is a zip archive (empty or truncated?)."
        )
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Whatever fails here, the file is to blame.
        from keras_stw.cli import one_line  # Imported here: `cli` imports this package.

        raise ValueError(f"{path}: cannot load a clip model: {one_line(error)}") from error
    try:
        model_frames(model)
    except ValueError as error:
        raise ValueError(f"{path}: not a clip model: {error}") from None
    return model


def video_scores(
    models,
    source,
    *,
    protocol: str = "1x1",
    spec: ClipSpec | list | None = None,
    batch_size: int = 8,
    on_error: str = "raise",
    engine: str = "auto",
    workers: int | None = None,
) -> np.ndarray:
    """Class scores of each video: the mean over test views and over models.

    Each model reads its own views (its `num_frames` and frame size) through
    `keras_stw.data.video_dataset`, the pipeline training validates with, so an
    ensemble may mix 8- and 16-frame models, as the paper's "16f + 8f". Scores are the
    models' outputs (probabilities for the zoo's softmax models), averaged over the
    `num_clips x num_crops` views of the protocol, then over models.

    Args:
        models: a `keras.Model` or a list of them, with the same classes.
        source: `Annotations`, or a list of video paths, `VideoRecord`s or
            `(path, label[, total_frames])` tuples.
        protocol: str. `"1x1"` (1 clip x 1 centre crop) or `"10x3"` (10 clips x
            3 crops). Defaults to `"1x1"`.
        spec: `ClipSpec`, or a list of one per model. How the videos were sampled
            and cropped in training (`short_side`, `sampling`, `frame_interval`,
            `frame_template`, `frame_start`); its frame count, size and views are each
            model's and the protocol's. Defaults to `None`: each model's own recipe,
            `model_clip_spec(model)`.
        batch_size: int. Videos per forward pass (times the protocol's views).
            Defaults to `8`.
        on_error: str. `"raise"` on an unreadable video, or `"skip"` it: its row
            of scores is NaN. Defaults to `"raise"`.
        engine: str. `video_dataset`'s engine. Defaults to `"auto"`.
        workers: int. `video_dataset`'s workers. Defaults to `None`.

    Returns:
        float32 array `(num_videos, num_classes)`.

    Raises:
        ValueError: a model gives no `(batch, num_classes)` scores, or the models
            differ in classes.
        keras_stw.data.DecodeError: a video cannot be read (`on_error="raise"`).

    Example:
    >>> scores = video_scores([stw16, stw8], ["a.mp4", "b.mp4"], protocol="10x3")
    >>> scores.shape
    (2, 174)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {list(PROTOCOLS)}. Received: {protocol!r}")
    models = [models] if isinstance(models, keras.Model) else list(models)
    for model in models:
        model_frames(model)
    num_classes = {m.output_shape[-1] for m in models}
    if len(num_classes) != 1:
        raise ValueError(f"The ensemble's models differ in classes: {sorted(num_classes)}")
    records = as_records(source)
    specs = spec if isinstance(spec, (list, tuple)) else [spec] * len(models)
    if len(specs) != len(models):
        raise ValueError(
            f"`spec` must be one `ClipSpec` or one per model ({len(models)}). "
            f"Received: {len(specs)} specs"
        )
    # Each clip comes back with its video's index in place of its label, so the scores
    # of a skipped video stay empty instead of shifting the rows that follow.
    indexed = [dataclasses.replace(r, label=i) for i, r in enumerate(records)]
    num_clips, num_crops = PROTOCOLS[protocol]
    total = np.zeros((len(records), num_classes.pop()), np.float64)
    for model, spec in zip(models, specs, strict=True):
        num_frames, image_size = model_frames(model)
        spec = spec or model_clip_spec(model)
        model_spec = spec.for_testing(num_clips, num_crops).replace(
            num_frames=num_frames,
            image_size=image_size,
            short_side=max(spec.short_side, image_size),
        )
        scores = np.full_like(total, np.nan)
        dataset = video_dataset(
            indexed,
            model_spec,
            batch_size=batch_size,
            on_error=on_error,
            engine=engine,
            workers=workers,
        )
        with original_errors():
            for clips, indices in dataset:
                clips = np.asarray(clips).reshape(-1, *model.input_shape[1:])
                outputs = keras.ops.convert_to_numpy(model.predict_on_batch(clips))
                views = outputs.reshape(len(indices), model_spec.views, -1)
                scores[np.asarray(indices)] = views.astype(np.float64).mean(1)
        total += scores
    return (total / len(models)).astype(np.float32)
