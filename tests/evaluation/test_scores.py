"""Scores under the protocols: ensembles average, skipped videos stay empty, top-k."""

import keras
import numpy as np
import pytest

from keras_stw import data, evaluation
from tests.test_case import TestCase


class MetricsTest(TestCase):
    def test_metrics(self):
        scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])
        metrics = evaluation.classification_metrics(scores, [0, 1, 1, 1], ["a", "b", "c"])
        self.assertAllClose(metrics["top1"], 0.5)
        self.assertAllClose(metrics["top5"], 1.0)
        self.assertEqual(metrics["per_class"], {"a": 1.0, "b": 1 / 3, "c": None})
        self.assertAllClose(metrics["mean_class_accuracy"], 2 / 3)
        self.assertEqual(metrics["confusion"].tolist(), [[1, 0, 0], [1, 1, 1], [0, 0, 0]])


@pytest.mark.slow
def test_an_ensemble_averages_its_models_each_on_its_own_clips(saved_models, synthetic):
    models = [keras.saving.load_model(path) for path in saved_models]
    assert [evaluation.model_frames(m) for m in models] == [(4, 32), (8, 32)]
    paths = [r.path for r in synthetic.read("val").records]
    spec = data.ClipSpec(short_side=32)
    single = [evaluation.video_scores(m, paths, spec=spec, workers=0) for m in models]
    both = evaluation.video_scores(models, paths, spec=spec, workers=0)
    np.testing.assert_allclose(both, (single[0] + single[1]) / 2, atol=1e-5)
    assert not np.allclose(single[0], single[1], atol=1e-4)
    # Scored in one batch or one video at a time: the same scores.
    one_by_one = evaluation.video_scores(models[0], paths, spec=spec, batch_size=1, workers=0)
    np.testing.assert_allclose(one_by_one, single[0], atol=1e-5)


@pytest.mark.slow
def test_a_skipped_video_has_empty_scores_and_predict_checks_top_k(saved_models, real_media):
    model = keras.saving.load_model(saved_models[0])
    paths = [str(real_media / "demo.mp4"), str(real_media / "missing.mp4")]
    scores = evaluation.video_scores(model, paths, on_error="skip", workers=0)
    assert np.isfinite(scores[0]).all() and np.isnan(scores[1]).all()
    with pytest.raises(data.DecodeError, match="missing.mp4"):
        evaluation.video_scores(model, paths, workers=0)
    names = ["a", "b", "c", "d"]
    top = evaluation.predict_video(model, paths[0], names, top_k=2)
    assert [name for name, _ in top] == [names[i] for i in np.argsort(-scores[0])[:2]]
    with pytest.raises(ValueError, match="top_k=0"):
        evaluation.predict_video(model, paths[0], names, top_k=0)


def frame_classifier():
    """Takes clips, but gives scores per frame and pixel: no clip classifier."""
    return keras.Sequential([keras.Input((4, 8, 8, 3)), keras.layers.Dense(4)])


@pytest.mark.parametrize(
    "write, message",
    [
        pytest.param(lambda path: path.write_bytes(b""), "not a .keras file", id="empty"),
        pytest.param(
            lambda path: path.write_bytes(b"PK\x03\x04" + b"\0" * 100),
            "not a .keras file",
            id="truncated",
        ),
        pytest.param(
            lambda path: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).save(path),
            "Expected a clip model with input (batch, T, H, W, 3)",
            id="no-clip-input",
        ),
        pytest.param(
            lambda path: frame_classifier().save(path),
            "Expected a clip classifier, one output of shape (batch, num_classes)",
            id="per-frame-output",
        ),
    ],
)
def test_a_file_holding_no_clip_classifier_is_refused_naming_it(tmp_path, write, message):
    path = tmp_path / "model.keras"
    write(path)
    with pytest.raises(ValueError) as raised:
        evaluation.load_clip_model(str(path))
    error = str(raised.value)
    assert error.startswith(f"{path}: ") and message in error, error
    assert "\n" not in error


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.keras: no such model file"):
        evaluation.load_clip_model(str(tmp_path / "none.keras"))


def test_scores_of_a_model_without_clip_scores_are_refused():
    with pytest.raises(ValueError, match="output_shape=\\(None, 4, 8, 8, 4\\)"):
        evaluation.video_scores(frame_classifier(), ["unread.mp4"])


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        (np.zeros((0, 3)), [], "Received: 0 labels"),
        (np.eye(3), [0, 1, 3], "Received: 3 labels from 0 to 3"),
        (np.eye(3), [-1, 1, 2], "Received: 3 labels from -1 to 2"),
    ],
)
def test_metrics_of_no_video_or_an_unknown_class_are_refused(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        evaluation.classification_metrics(scores, labels, ["a", "b", "c"])
