"""Top-k class predictions of one video, with class names."""

import keras

from keras_stw.evaluation.scores import video_scores


def predict_video(
    model: keras.Model,
    path: str,
    class_names: list[str],
    *,
    top_k: int = 5,
    protocol: str = "1x1",
) -> list[tuple[str, float]]:
    """Predicts the `top_k` classes of a video.

    Args:
        model: a clip `keras.Model` (or a list of them, averaged).
        path: str. Video file or JPEG frame folder.
        class_names: list of str. One name per model output.
        top_k: int. Classes returned. Defaults to `5`.
        protocol: str. `"1x1"` or `"10x3"` views. Defaults to `"1x1"`.

    Returns:
        `(class name, score)` pairs, best first.

    Raises:
        ValueError: the model's number of classes differs from `len(class_names)`.
        keras_stw.data.DecodeError: the video cannot be read.

    Example:
    >>> predict_video(model, "demo.mp4", read_label_map("label_map_k400.txt"))[0]
    ('arm wrestling', 0.93)
    """
    models = [model] if isinstance(model, keras.Model) else list(model)
    for m in models:
        if m.output_shape[-1] != len(class_names):
            raise ValueError(
                f"The model '{m.name}' predicts {m.output_shape[-1]} classes but the label "
                f"map names {len(class_names)}; use the label map the model was trained with."
            )
    scores = video_scores(models, [path], protocol=protocol, workers=1)[0]
    best = scores.argsort()[::-1][:top_k]
    return [(class_names[i], float(scores[i])) for i in best]
