"""Top-k class predictions of one video, with class names."""

import keras

from keras_stw.data import ClipSpec
from keras_stw.evaluation.scores import model_frames, video_scores
from keras_stw.validation import check_positive_int


def predict_video(
    model: keras.Model,
    path: str,
    class_names: list[str] | None = None,
    *,
    top_k: int = 5,
    protocol: str = "1x1",
    spec: ClipSpec | None = None,
) -> list[tuple[str, float]]:
    """Predicts the `top_k` classes of a video.

    Args:
        model: a clip `keras.Model` (or a list of them, averaged).
        path: str. Video file or JPEG frame folder.
        class_names: list of str. One name per model output. Defaults to `None`: the
            `class_names` saved with the model.
        top_k: int. Classes returned, at least 1. Defaults to `5`.
        protocol: str. `"1x1"` or `"10x3"` views. Defaults to `"1x1"`.
        spec: `ClipSpec`. How the model's training clips were sampled and cropped,
            see `video_scores`. Defaults to `None`: the recipe saved with the model
            (`model_clip_spec`).

    Returns:
        `(class name, score)` pairs, best first.

    Raises:
        ValueError: `top_k` is below 1, the model is not a clip classifier (see
            `model_frames`), its number of classes differs from `len(class_names)`, or
            no class names are given or saved with the model.
        keras_stw.data.DecodeError: the video cannot be read.

    Example:
    >>> predict_video(model, "demo.mp4", read_label_map("label_map_k400.txt"))[0]
    ('arm wrestling', 0.93)
    >>> predict_video(keras.saving.load_model("runs/train/model.keras"), "demo.mp4")[0]
    ('pushing something from left to right', 0.61)
    """
    check_positive_int("top_k", top_k)
    models = [model] if isinstance(model, keras.Model) else list(model)
    if class_names is None:
        class_names = getattr(models[0], "class_names", None)
        if class_names is None:
            raise ValueError(
                f"The model '{models[0].name}' was saved without class names: pass "
                "`class_names` (the label map it was trained with)."
            )
    for m in models:
        model_frames(m)
        if m.output_shape[-1] != len(class_names):
            raise ValueError(
                f"The model '{m.name}' predicts {m.output_shape[-1]} classes but the label "
                f"map names {len(class_names)}; use the label map the model was trained with."
            )
    scores = video_scores(models, [path], protocol=protocol, spec=spec, batch_size=1, workers=0)
    best = scores[0].argsort()[::-1][:top_k]
    return [(class_names[i], float(scores[0][i])) for i in best]
