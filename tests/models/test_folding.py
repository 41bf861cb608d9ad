"""A video model that recomputes its temporal blocks in the backward pass trains to the same
weights, keeps none of the blocks' outputs for it, and infers as before; under JAX, a
training step keeps no residual ReLU's mask.

`KERAS_STW_RECOMPUTE_BLOCKS=on` runs each temporal block and the convolution that reads it
under `keras.remat` here, where the fused kernels do not run (`keras_stw.models.folding`);
the kernels' own recomputing pair is tested with them, in
`tests/kernels/test_folded_convolution.py`.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import keras
import numpy as np
import pytest

import keras_stw
from keras_stw.models import folding, residual_folding
from tests.missing_packages import environment_without
from tests.test_case import TestCase

# A fresh PyTorch interpreter in which `import jax` fails, as for a user without JAX.
WITHOUT_JAX = textwrap.dedent(
    """
    import keras, numpy as np, keras_stw

    model = keras_stw.video_resnet(
        "stw", num_frames=4, num_classes=3, image_shape=(32, 32, 3), backbone="keras"
    )
    model.compile(keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
    history = model.fit(clips, np.array([0, 1]), batch_size=2, verbose=0)
    print(history.history["loss"])
    """
)


def _recompute(setting):
    return mock.patch.dict(os.environ, {"KERAS_STW_RECOMPUTE_BLOCKS": setting})


def _model(temporal_block="stw", seed=0):
    keras.utils.set_random_seed(seed)
    return keras_stw.video_resnet(
        temporal_block, num_frames=4, num_classes=3, image_shape=(32, 32, 3), depth=26,
        base_width=8, backbone="keras_cv",
    )  # fmt: skip


class RecomputeBlocksTest(TestCase):
    def test_a_training_step_with_recomputed_blocks_takes_the_same_gradients(self):
        # One step of plain SGD at learning rate 1 moves every weight by minus its gradient.
        clips = self.random_clips(clips=4, num_frames=4, size=32)
        labels = np.array([0, 1, 2, 1])
        steps = {}
        for setting in ("off", "on"):
            model = _model()
            before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
            model.compile(keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
            with _recompute(setting):
                model.fit(clips, labels, batch_size=4, epochs=1, verbose=0)
            after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
            steps[setting] = [a - b for a, b in zip(after, before, strict=True)]
        for got, want in zip(steps["on"], steps["off"], strict=True):
            self.assertGreater(np.abs(want).max(), 0)
            self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-4)

    def test_inference_runs_the_layers_as_they_are(self):
        model = _model()
        clips = self.random_clips(clips=1, num_frames=4, size=32)
        with _recompute("on"):
            self.assertIsNone(folding.call_folded(model, clips, training=False))
            self.assertIsNotNone(folding.call_folded(model, clips, training=True))

    def test_training_runs_the_graph_itself_only_under_jax(self):
        # Under JAX, training runs the residual ReLUs with a gradient that reads their output.
        model = _model()
        clips = self.random_clips(clips=1, num_frames=4, size=32)
        with _recompute("off"):
            self.assertIsNone(folding.call_folded(model, clips, training=False))
            trained = folding.call_folded(model, clips, training=True)
        self.assertEqual(trained is not None, keras.backend.backend() == "jax")

    def test_a_model_recomputes_its_blocks_where_jax_cannot_be_imported(self):
        variables = {"KERAS_BACKEND": "torch", "KERAS_STW_RECOMPUTE_BLOCKS": "on"}
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_JAX],
            capture_output=True,
            text=True,
            timeout=300,
            env=environment_without(["jax"], self.get_temp_dir(), **variables),
        )
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])

    def test_a_bad_setting_names_the_variable(self):
        with _recompute("yes"), pytest.raises(ValueError, match="KERAS_STW_RECOMPUTE_BLOCKS"):
            _model()(self.random_clips(clips=1, num_frames=4, size=32), training=True)


@pytest.mark.jax_only
class SavedResidualsTest(TestCase):
    @staticmethod
    def _saved_residuals(model, clips, setting):
        """What `jax.ad_checkpoint.print_saved_residuals` lists for one training step."""
        import jax

        frozen = [v.value for v in model.non_trainable_variables]

        def loss(values):
            outputs, _ = model.stateless_call(values, frozen, clips, training=True)
            return outputs.sum()

        printed = io.StringIO()
        with _recompute(setting), contextlib.redirect_stdout(printed):
            jax.ad_checkpoint.print_saved_residuals(
                loss, [v.value for v in model.trainable_variables]
            )
        return printed.getvalue()

    def _saved_elements(self, model, clips, setting):
        """How many elements one training step keeps for its backward pass."""
        printed = self._saved_residuals(model, clips, setting)
        shapes = re.findall(r"^\w+\[([\d,]*)\]", printed, re.MULTILINE)
        return sum(int(np.prod([int(n) for n in shape.split(",") if n])) for shape in shapes)

    def test_the_backward_pass_keeps_none_of_the_blocks_outputs(self):
        clips = np.float32(self.random_clips(clips=2, num_frames=4, size=32))
        for temporal_block in ("stw", "tsm"):
            model = _model(temporal_block)
            pairs = folding.folding_pairs(model)
            self.assertLen(pairs, 8)
            block_outputs = sum(len(clips) * int(np.prod(b.output.shape[1:])) for b, _ in pairs)
            kept = self._saved_elements(model, clips, "off")
            # Each block's output is no longer kept (an STW block's own intermediates on
            # the `keras.ops` path are not either).
            self.assertLessEqual(self._saved_elements(model, clips, "on"), kept - block_outputs)

    def test_the_backward_pass_keeps_no_residual_relu_mask(self):
        # A residual ReLU's gradient masks by its output, which the next block keeps anyway;
        # on the GPU, XLA kept each residual block's sum before the ReLU for a mask by it.
        clips = np.float32(self.random_clips(clips=2, num_frames=4, size=32))
        masks = re.compile(r"^bool\[[\d,]+\] output of gt .*\(relu\)$", re.MULTILINE)
        for temporal_block in ("stw", None):
            model = _model(temporal_block)
            self.assertLen(folding.residual_relus(model), 8)
            for setting in ("off", "on"):
                kept = masks.findall(self._saved_residuals(model, clips, setting))
                self.assertLen(kept, 25 - 8)
            # Keras's own run of the graph keeps a mask for each of the 25 ReLUs.
            with mock.patch.object(folding, "call_folded", return_value=None):
                self.assertLen(masks.findall(self._saved_residuals(model, clips, "off")), 25)


@pytest.mark.parametrize(
    "backbone, depth, blocks", [("keras", 50, 16), ("keras_cv", 26, 8), ("keras_hub", 26, 8)]
)
def test_the_residual_relus_are_the_blocks_outputs(backbone, depth, blocks):
    options = {"base_width": 8} if backbone == "keras_cv" else {}
    model = keras_stw.video_resnet(
        "stw", num_frames=4, num_classes=3, image_shape=(32, 32, 3), depth=depth,
        backbone=backbone, **options,
    )  # fmt: skip
    relus = folding.residual_relus(model)
    assert len(relus) == blocks and all(relu.name.endswith("_out") for relu in relus)


@pytest.mark.parametrize(
    "layer, plain",
    [
        (keras.layers.Activation("relu"), True),
        (keras.layers.ReLU(), True),
        (keras.layers.ReLU(max_value=6.0), False),
        (keras.layers.ReLU(negative_slope=0.1), False),
        (keras.layers.Activation("gelu"), False),
    ],
)
def test_only_plain_relu_layers_take_the_gradient_from_their_output(layer, plain):
    assert residual_folding.is_plain_relu(layer) is plain
