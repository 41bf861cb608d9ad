"""Tests for `keras_stw.export`: every format round-trips at a small size.

`KerasFormatTest` runs on every backend; under JAX and PyTorch its SavedModel test goes
through the TensorFlow rebuild. `ServingTest` needs TensorFlow itself.
"""

import functools
import os
import subprocess
import sys
import tempfile
import textwrap

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw import data, evaluation, export
from tests.conftest import REAL_MEDIA
from tests.test_case import TestCase

NUM_FRAMES, SIZE, NUM_CLASSES = 4, 32, 5
# Probabilities from two float32 runtimes (Keras vs. TFLite or ONNX Runtime, a compiled
# Keras call vs. the served graph) sum in different orders; on the test model, whose
# random weights make a peaky softmax, that reaches 4e-5.
RUNTIME_ATOL = 1e-4
CLIP_SHAPE = (NUM_FRAMES, SIZE, SIZE, 3)
CLASS_NAMES = ["a", "b", "c", "d", "e"]
# Holds the session's one SavedModel; removed when the test process exits.
EXPORT_DIR = tempfile.TemporaryDirectory()

# Runs in a fresh interpreter whose imports of keras_stw and keras_cv fail, as on a TF
# Serving host with plain TensorFlow only.
PLAIN_TENSORFLOW = textwrap.dedent(
    """
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"keras_stw", "keras_cv"}:
                raise ImportError(f"{name} is not installed on this host")

    sys.meta_path.insert(0, Refuse())
    import numpy as np
    import tensorflow as tf

    saved_model_dir, clips_path, outputs_path = sys.argv[1:]
    serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    outputs = serve(clips=tf.constant(np.load(clips_path)))
    np.savez(outputs_path, **{k: v.numpy() for k, v in outputs.items()})
    """
)


@functools.cache
def trained_model():
    """The tiny STW model with every trainable weight moved off its initial value.

    Random steps stand in for training: what the export must carry is weights that
    differ from a fresh build, and a compiled train step would cost JAX half a minute.
    Seeded, so the model (and the parity measured on it) does not depend on which tests
    ran before in the same process.
    """
    keras.utils.set_random_seed(0)
    model = keras_stw.video_resnet(
        "stw",
        num_frames=NUM_FRAMES,
        num_classes=NUM_CLASSES,
        image_shape=CLIP_SHAPE[1:],
        base_width=4,
        depth=26,
    )
    rng = np.random.default_rng(1)
    for variable in model.trainable_variables:
        step = rng.normal(0.0, 0.2, variable.shape).astype("float32")
        variable.assign(variable + step)
    return model


@functools.cache
def exported_saved_model():
    """`trained_model()` exported once per test session, on the current backend.

    Under JAX and PyTorch this goes through the TensorFlow rebuild.
    """
    return export.export_saved_model(
        trained_model(), EXPORT_DIR.name, version=3, top_k=3, class_names=CLASS_NAMES
    )


def keras_probabilities(model, clips):
    return keras.ops.convert_to_numpy(model(clips.astype("float32"), training=False))


class KerasFormatTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = trained_model()
        cls.clips = TestCase.random_clips(None, num_frames=NUM_FRAMES, size=SIZE)

    def test_keras_round_trip(self):
        path = os.path.join(self.get_temp_dir(), "stw.keras")
        self.model.save(path)
        restored = keras.saving.load_model(path)
        self.assertEqual(type(restored.get_layer("clip_to_frames")).__name__, "ClipToFrames")
        np.testing.assert_array_equal(
            keras_probabilities(restored, self.clips),
            keras_probabilities(self.model, self.clips),
        )

    def test_saved_model_from_current_backend(self):
        import tensorflow as tf

        path = exported_saved_model()
        self.assertEqual(path, os.path.join(EXPORT_DIR.name, "3"))
        self.assertTrue(os.path.isfile(os.path.join(path, "saved_model.pb")))
        signatures = tf.saved_model.load(path).signatures
        self.assertEqual(sorted(signatures), ["serving_default", "serving_jpeg"])
        outputs = signatures["serving_default"](clips=tf.constant(self.clips))
        reference = keras_probabilities(self.model, self.clips)
        top = np.argsort(-reference)[:, :3]
        self.assertAllClose(outputs["probabilities"], reference, atol=1e-5, rtol=0)
        # The exported top-k picks classes whose Keras probabilities are the k largest;
        # near-ties may swap places between backends, so compare values, not indices.
        indices = outputs["top_k_indices"].numpy()
        self.assertAllClose(
            np.take_along_axis(reference, indices, 1),
            np.take_along_axis(reference, top, 1),
            atol=1e-5,
        )
        self.assertAllClose(
            outputs["top_k_scores"], np.take_along_axis(reference, top, 1), atol=1e-5
        )
        self.assertAllEqual(
            outputs["top_k_labels"], np.array([n.encode() for n in CLASS_NAMES])[indices]
        )

    @parameterized.named_parameters(
        ("version", {"version": 0}, "`version` must be a positive integer"),
        ("top_k", {"top_k": 0}, "`top_k` must be a positive integer"),
        ("class_names", {"class_names": ["a"]}, "one name per class \\(5\\)"),
    )
    def test_invalid_arguments(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            export.export_saved_model(self.model, self.get_temp_dir(), **kwargs)


@pytest.mark.tf_only
class ServingTest(TestCase):
    @classmethod
    def setUpClass(cls):
        import tensorflow as tf

        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = trained_model()
        cls.clips = TestCase.random_clips(None, num_frames=NUM_FRAMES, size=SIZE)
        cls.saved_model_dir = exported_saved_model()
        cls.signatures = tf.saved_model.load(cls.saved_model_dir).signatures

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def test_signature_specs(self):
        import tensorflow as tf

        serve = self.signatures["serving_default"]
        spec = serve.structured_input_signature[1]["clips"]
        self.assertEqual((spec.shape.as_list(), spec.dtype), ([None, *CLIP_SHAPE], tf.uint8))
        self.assertEqual(
            sorted(serve.structured_outputs),
            ["probabilities", "top_k_indices", "top_k_labels", "top_k_scores"],
        )
        spec = self.signatures["serving_jpeg"].structured_input_signature[1]
        self.assertEqual(
            (spec["frames_jpeg"].shape.as_list(), spec["frames_jpeg"].dtype),
            ([None, NUM_FRAMES], tf.string),
        )

    def test_fresh_process_without_keras_stw(self):
        clips_path = os.path.join(self.tmp.name, "clips.npy")
        outputs_path = os.path.join(self.tmp.name, "outputs.npz")
        np.save(clips_path, self.clips)
        subprocess.run(
            [
                sys.executable,
                "-c",
                PLAIN_TENSORFLOW,
                self.saved_model_dir,
                clips_path,
                outputs_path,
            ],
            check=True,
            cwd=self.tmp.name,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        outputs = np.load(outputs_path)
        self.assertAllClose(
            outputs["probabilities"],
            keras_probabilities(self.model, self.clips),
            atol=1e-5,
            rtol=0,
        )

    def test_client_views_score_as_evaluation_does(self):
        """The README's client preprocessing is what evaluate.py and predict score."""
        import tensorflow as tf

        path = str(REAL_MEDIA / "demo.mp4")
        views = evaluation.video_views(
            path, num_frames=NUM_FRAMES, image_size=SIZE, short_side=SIZE
        )
        served = self.signatures["serving_default"](clips=tf.constant(views))["probabilities"]
        spec = data.ClipSpec(short_side=SIZE)
        expected = evaluation.video_scores(self.model, [path], spec=spec, workers=0)
        self.assertAllClose(served.numpy(), expected, atol=RUNTIME_ATOL)

    def test_jpeg_signature_matches_decoded_frames(self):
        import tensorflow as tf

        frames = tf.reshape(self.clips, (-1, *CLIP_SHAPE[1:]))
        jpegs = tf.map_fn(tf.io.encode_jpeg, frames, fn_output_signature=tf.string)
        decoded = tf.map_fn(tf.io.decode_jpeg, jpegs, fn_output_signature=tf.uint8)
        outputs = self.signatures["serving_jpeg"](frames_jpeg=tf.reshape(jpegs, (-1, NUM_FRAMES)))
        self.assertAllClose(
            outputs["probabilities"],
            keras_probabilities(self.model, np.reshape(decoded, self.clips.shape)),
            atol=1e-5,
            rtol=0,
        )

    @parameterized.named_parameters(
        ("frame_count", (2, NUM_FRAMES + 1, SIZE, SIZE, 3)),
        ("frame_size", (2, NUM_FRAMES, SIZE, SIZE - 2, 3)),
        ("channels", (2, NUM_FRAMES, SIZE, SIZE, 1)),
        ("rank", (NUM_FRAMES, SIZE, SIZE, 3)),
    )
    def test_wrong_shape_is_refused_at_the_signature(self, shape):
        import tensorflow as tf

        received = ",".join(map(str, shape))
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError,
            f"Shape of tensor clips \\[{received}\\] is not compatible with "
            f"expected shape \\[\\?,{NUM_FRAMES},{SIZE},{SIZE},3\\]",
        ):
            self.signatures["serving_default"](clips=tf.zeros(shape, tf.uint8))

    def test_wrong_dtype_is_refused_at_the_signature(self):
        import tensorflow as tf

        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError,
            "expected to be a uint8 tensor but is a float",
        ):
            self.signatures["serving_default"](clips=tf.zeros((1, *CLIP_SHAPE)))

    @parameterized.named_parameters(
        ("tflite", "tflite", export.export_tflite), ("onnx", "onnx", export.export_onnx)
    )
    def test_portable_format_parity(self, name, convert):
        path = convert(self.saved_model_dir, os.path.join(self.tmp.name, f"stw.{name}"))
        table = export.output_parity(self.model, self.clips, **{f"{name}_path": path})
        self.assertEqual(list(table), [name])
        self.assertLess(table[name]["max_abs_diff"], RUNTIME_ATOL)
        self.assertEqual(table[name]["top1_agreement"], 1.0)

    def test_tflite_runs_through_litert(self):
        # The `export` extra installs LiteRT, so `run_tflite` (and the parity above) uses
        # it rather than the deprecated `tf.lite.Interpreter`.
        from ai_edge_litert.interpreter import Interpreter

        path = export.export_tflite(self.saved_model_dir, os.path.join(self.tmp.name, "a.tflite"))
        self.assertIsInstance(export.tflite_interpreter(path), Interpreter)
