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
