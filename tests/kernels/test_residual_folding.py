"""A residual sum's ReLU and the temporal block that reads it, folded into one kernel,
compute what the layers compute, at inference and while training.

Under JAX the kernel runs through Pallas's interpreter on the CPU (`"interpret"`) and is
compared with the layers' `keras.ops` code (`"off"`): a residual trio (batch
normalization on both terms, one, or none; `Add`; ReLU; the temporal block) as a small
functional model, its two outputs and every gradient (the terms, the batch
normalizations' weights and statistics, the block's weights) and, training, the moving
statistics, at a pixel count that is not a power of two, `T = 1`, both paddings and each
block that runs as one kernel; recomputing, the trio and the 1x1 convolution that reads
its block; then a whole video model, inference and a training step, recomputing or not.
The search for the trios runs on every backend.
"""

import contextlib
import io
import os
import re
from unittest import mock

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw import kernels, layers
from keras_stw.models import folding, residual_folding
from tests.kernels import ONE_KERNEL_BLOCKS
from tests.test_case import TestCase

JAX = keras.backend.backend() == "jax"
BLOCKS = ONE_KERNEL_BLOCKS
# (clips, num_frames, height, width, channels): a pixel count that is not a power of two
# (the last tile is masked), and one frame.
SHAPES = [(2, 3, 3, 5, 64), (3, 1, 2, 2, 32)]
# Which of the sum's two terms is batch-normalized: a stage's first block, the others,
# and a sum of plain tensors.
NORMALIZED = [(True, True), (False, True), (False, False)]


def _residual_folding(setting):
    return mock.patch.dict(os.environ, {"KERAS_STW_FOLD_RESIDUALS": setting})


def _recompute(setting):
    return mock.patch.dict(os.environ, {"KERAS_STW_RECOMPUTE_BLOCKS": setting})


@contextlib.contextmanager
def _kernel_calls():
    """Counts the folded kernel's calls, at inference, training and training with the
    convolution that reads the block ("recomputing"), in a dict."""
    from keras_stw.kernels import pallas_temporal_block

    calls = {}
    with contextlib.ExitStack() as stack:
        for phase, name in (
            ("inference", "residual_block"),
            ("training", "normalized_residual_block"),
        ):
            function = getattr(pallas_temporal_block, name)

            def counted(*args, _phase=phase, _function=function, **kwargs):
                key = "recomputing" if kwargs.get("kernel") is not None else _phase
                calls[key] = calls.get(key, 0) + 1
                return _function(*args, **kwargs)

            stack.enter_context(mock.patch.object(pallas_temporal_block, name, counted))
        yield calls


def _trio(layer_class, kwargs, shape, normalized, seed, dtype="float32", filters=None, strides=1):
    """A functional model `[branch, shortcut] -> [relu(sum), block(relu(sum))]`, with
    random weights and batch-normalization statistics; with `filters`, a 1x1 `Conv2D` of
    that many filters and `strides` reads the block, and its output replaces the
    block's."""
    clips, num_frames, height, width, channels = shape
    frame_shape = (height, width, channels)
    terms = [keras.Input(frame_shape, batch_size=clips * num_frames) for _ in range(2)]
    summed = [
        keras.layers.BatchNormalization(epsilon=1e-3, dtype=dtype)(term) if norm else term
        for term, norm in zip(terms, normalized, strict=True)
    ]
    outputs = keras.layers.ReLU(dtype=dtype)(keras.layers.Add(dtype=dtype)(summed))
    block = layer_class(num_frames, **kwargs, dtype=dtype)(outputs)
    if filters:
        block = keras.layers.Conv2D(filters, 1, strides=strides, dtype=dtype)(block)
    model = keras.Model(terms, [outputs, block])
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = rng.standard_normal(weight.shape).astype("float32") * 0.5
        weight.assign(np.abs(value) + 0.5 if "variance" in weight.path else value)
    return model


def _terms(shape, seed, channels=None, strides=1):
    """Two random frame tensors of `shape`; the second with `channels` channels and its
    sides divided by `strides` (rounded up), as a strided convolution's output, if
    given."""
    clips, num_frames, height, width, frame_channels = shape
    rng = np.random.default_rng(seed)
    frames = clips * num_frames
    sizes = [(frames, height, width, frame_channels)]
    sizes.append((frames, -(-height // strides), -(-width // strides), channels or frame_channels))
    return [rng.standard_normal(size).astype("float32") for size in sizes]


def _stateless_loss(model, upstream, mode, training):
    """`loss(values, terms)`: `sum(outputs * upstream)` of the trio's outputs for
    `model.weights` holding `values`, and as its second result the outputs and, when
    `training`, the moving statistics after the call; the trio folded
    (`mode="interpret"`) or its layers (`"off"`)."""
    variables = model.weights

    def loss(values, terms):
        mapping = list(zip(variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope, kernels.fused_kernels(mode):
            if mode == "off":
                outputs = model(terms, training=training)
            else:
                outputs = folding.call_folded(model, terms, training=training)
            moving = model.non_trainable_weights if training else []
            updated = [scope.get_current_value(variable) for variable in moving]
        total = sum((o.astype("float32") * u).sum() for o, u in zip(outputs, upstream, strict=True))
        return total, [*outputs, *updated]

    return loss


def _outputs_and_gradients(model, terms, upstream, mode, training=False):
    """The trio's two outputs, its moving statistics after the call when `training`, then
    the gradients of `sum(outputs * upstream)` for the two terms and every variable of the
    model: the trio folded (`mode="interpret"`) or its layers (`"off"`)."""
    import jax

    loss = _stateless_loss(model, upstream, mode, training)
    (_, outputs), (d_values, d_terms) = jax.value_and_grad(loss, (0, 1), has_aux=True)(
        [v.value for v in model.weights], terms
    )
    return [np.float32(value) for value in (*outputs, *d_terms, *d_values)]


def _assert_close_to_layers(test, folded, reference):
    """max |a - b| / max |b| below 1e-5 for each pair. The gate's bias gradient is a sum of
    terms of about 1 over every pixel that can cancel to near 0, so it is compared to 1 at
    least; so are the moving statistics' gradients when training, which are 0."""
    for got, want in zip(folded, reference, strict=True):
        scale = np.abs(want).max()
        scale = max(scale, 1.0) if want.ndim == 0 or scale == 0 else scale
        test.assertLess(np.abs(got - want).max() / scale, 1e-5)


@pytest.mark.jax_only
class ResidualFoldingParityTest(TestCase):
    @parameterized.named_parameters(
        (f"{name}_{i}_{sum(normalized)}_{phase}", layer_class, kwargs, shape, normalized, phase)
        for name, layer_class, kwargs in BLOCKS
        for i, shape in enumerate(SHAPES)
        for normalized in NORMALIZED
        for phase in ("inference", "training")
        if (i == 0 or normalized == (False, True))
        and (phase == "inference" or normalized == (True, True))
    )
    def test_outputs_and_every_gradient_match_the_layers(
        self, layer_class, kwargs, shape, normalized, phase
    ):
        # Training normalizes each term by the batch's statistics and updates the moving
        # ones (compared too); inference by the moving ones.
        model = _trio(layer_class, kwargs, shape, normalized, seed=len(kwargs))
        terms = _terms(shape, seed=1)
        upstream = _terms(shape, seed=2)
        training = phase == "training"
        with _kernel_calls() as calls:
            folded = _outputs_and_gradients(model, terms, upstream, "interpret", training)
        self.assertEqual(calls, {phase: 1})
        reference = _outputs_and_gradients(model, terms, upstream, "off", training)
        updated = len(model.non_trainable_weights) if training else 0
        self.assertLen(folded, 4 + updated + len(model.weights))
        _assert_close_to_layers(self, folded, reference)

    @parameterized.named_parameters(
        [(name, layer_class, kwargs, 1) for name, layer_class, kwargs in BLOCKS]
        + [("stw_strided", layers.STWBlock, {}, 2)]
    )
    def test_recomputing_runs_the_convolution_too_and_matches_the_layers(
        self, layer_class, kwargs, strides
    ):
        # Training with KERAS_STW_RECOMPUTE_BLOCKS=on, the trio's kernel runs the 1x1
        # convolution that reads the block, and the backward kernel writes the block's
        # output again for the convolution's kernel gradient. Strided, the convolution
        # reads 2 x 3 of the 3 x 5 pixels.
        shape = SHAPES[0]
        model = _trio(
            layer_class, kwargs, shape, (True, True), seed=14, filters=16, strides=strides
        )
        terms = _terms(shape, seed=15)
        upstream = _terms(shape, seed=16, channels=16, strides=strides)
        with _recompute("on"), _kernel_calls() as calls:
            folded = _outputs_and_gradients(model, terms, upstream, "interpret", True)
        self.assertEqual(calls, {"recomputing": 1})
        reference = _outputs_and_gradients(model, terms, upstream, "off", True)
        self.assertLen(folded, 4 + len(model.non_trainable_weights) + len(model.weights))
        _assert_close_to_layers(self, folded, reference)

    def test_recomputing_keeps_no_block_output_for_the_backward_pass(self):
        import jax

        shape = SHAPES[0]
        model = _trio(layers.STWBlock, {}, shape, (True, True), seed=17, filters=16)
        terms, upstream = _terms(shape, seed=18), _terms(shape, seed=19, channels=16)
        loss = _stateless_loss(model, upstream, "interpret", training=True)

        def frame_sized_activations(setting):
            """The computed arrays of a frame tensor's size that the step keeps."""
            printed = io.StringIO()
            with _recompute(setting), contextlib.redirect_stdout(printed):
                jax.ad_checkpoint.print_saved_residuals(
                    lambda values: loss(values, terms)[0], [v.value for v in model.weights]
                )
            shapes = re.findall(r"^\w+\[([\d,]*)\] output of", printed.getvalue(), re.MULTILINE)
            return [s for s in shapes if np.prod([int(n) for n in s.split(",")]) == np.prod(shape)]

        # Both keep the two terms and `x`; only the layers' convolution keeps the block's
        # output.
        self.assertLen(frame_sized_activations("off"), 4)
        self.assertLen(frame_sized_activations("on"), 3)

    def test_the_trio_issues_no_loads_ahead_by_default(self):
        # Timed slower forward and not timed backward (`RESIDUAL_PREFETCH_FRAMES`).
        from keras_stw.kernels import pallas_temporal_block

        shape = (2, 4, 3, 5, 64)
        model = _trio(layers.STWBlock, {}, shape, (True, True), seed=24)
        terms, upstream = _terms(shape, seed=25), _terms(shape, seed=26)
        spy = mock.patch.object(
            pallas_temporal_block, "_compiled", wraps=pallas_temporal_block._compiled
        )
        with spy as compiled:
            _outputs_and_gradients(model, terms, upstream, "interpret", training=True)
        # `_compiled(kernel, ..., tiling)`: the tiling ends with the frames whose loads a
        # step issues ahead.
        aheads = {call.args[0].__name__: call.args[-1][-1] for call in compiled.call_args_list}
        self.assertEqual(aheads, {"_forward_kernel": 0, "_backward_kernel": 0})

    @parameterized.named_parameters(("inference", False), ("training", True))
    def test_loads_issued_frames_ahead_match_the_layers(self, training):
        # The trio's forward kernel reads two terms a frame and its backward kernel also
        # the gradient reaching `x`; 3 frames ahead reaches past the clip's last frame.
        tuning = {
            "KERAS_STW_KERNEL_PREFETCH_FRAMES": "2",
            "KERAS_STW_KERNEL_BACKWARD_PREFETCH_FRAMES": "3",
        }
        shape = (2, 4, 3, 5, 64)
        model = _trio(layers.STWBlock, {}, shape, (True, True), seed=21)
        terms, upstream = _terms(shape, seed=22), _terms(shape, seed=23)
        with mock.patch.dict(os.environ, tuning):
            folded = _outputs_and_gradients(model, terms, upstream, "interpret", training)
        reference = _outputs_and_gradients(model, terms, upstream, "off", training)
        _assert_close_to_layers(self, folded, reference)

    def test_bfloat16_outputs_match_float32(self):
        shape = (2, 4, 3, 3, 64)
        model = _trio(layers.STWBlock, {}, shape, (True, True), seed=3, dtype="bfloat16")
        exact = _trio(layers.STWBlock, {}, shape, (True, True), seed=3)
        terms = [keras.ops.cast(term, "bfloat16") for term in _terms(shape, seed=4)]
        with kernels.fused_kernels("interpret"):
            folded = folding.call_folded(model, terms, training=False)
        with kernels.fused_kernels("off"):
            wanted = exact([keras.ops.cast(term, "float32") for term in terms], training=False)
        for got, want in zip(folded, wanted, strict=True):
            self.assertEqual(got.dtype, "bfloat16")
            got, want = np.float32(got), np.float32(want)
            self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-2)

    def test_a_video_model_folds_every_residual_sum_and_keeps_its_results(self):
        import jax

        keras.utils.set_random_seed(0)
        model = keras_stw.video_resnet(
            "stw", num_frames=4, num_classes=5, image_shape=(32, 32, 3), depth=26,
            base_width=16, backbone="keras_cv",
        )  # fmt: skip
        rng = np.random.default_rng(5)
        for weight in model.weights:  # statistics, temporal weights and scores not 0 or 1
            if "moving_variance" in weight.path:
                weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
            elif any(name in weight.path for name in ("moving_mean", "temporal", "frame_scores")):
                weight.assign(rng.normal(0.0, 0.2, weight.shape).astype("float32"))
        clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
        frames = keras.ops.convert_to_tensor(clips)
        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def scores_and_saliency(mode):
            def score(clips):
                outputs = model(clips, training=False)
                return (outputs * np.arange(5.0)).sum(), outputs

            with kernels.fused_kernels(mode):
                (_, outputs), saliency = jax.value_and_grad(score, has_aux=True)(frames)
            return np.float32(outputs), np.float32(saliency)

        def training_step(setting, recompute="off"):
            def loss(values):
                outputs, updated = model.stateless_call(values, frozen, frames, training=True)
                return (outputs * np.arange(5.0)).sum(), updated

            with kernels.fused_kernels("interpret"), _residual_folding(setting):
                with _recompute(recompute):
                    (loss, updated), grads = jax.value_and_grad(loss, has_aux=True)(trainable)
            return loss, updated, grads

        with _kernel_calls() as calls:
            folded = scores_and_saliency("interpret")
            self.assertEqual(calls, {"inference": 7})  # every block's but the first
            folded_step = training_step("on")
            self.assertEqual(calls, {"inference": 7, "training": 7})
            # Recomputing, each trio runs the convolution that reads its block too (at a
            # stage's first block KerasCV strides it).
            recomputed_step = training_step("on", recompute="on")
            self.assertEqual(calls, {"inference": 7, "training": 7, "recomputing": 7})
            step = training_step("off")
            self.assertEqual(calls, {"inference": 7, "training": 7, "recomputing": 7})
        # What the calls ran, as `folded_trios` plans it for a recomputing step.
        with kernels.fused_kernels("interpret"), _residual_folding("on"), _recompute("on"):
            trios = keras_stw.models.folded_trios(model, recompute=True)
        self.assertLen(trios, 7)
        self.assertTrue(all(isinstance(conv, keras.layers.Conv2D) for _, conv in trios))
        for got, want in zip(folded, scores_and_saliency("off"), strict=True):
            self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-5)
        # The training steps against the same step with the blocks' own kernels: at this
        # size (8 values a channel at the last stage) batch statistics make the step's
        # gradients as sensitive to rounding as the kernels' against keras.ops (a cosine
        # of 0.9995), so the fold alone is compared; each gradient by its direction.
        want_loss, want_updated, want_grads = step
        for loss, updated, grads in (folded_step, recomputed_step):
            self.assertAllClose(loss, want_loss, rtol=1e-5)
            for got, want in zip(updated, want_updated, strict=True):
                self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
            for got, want in zip(grads, want_grads, strict=True):
                got, want = np.float64(got).ravel(), np.float64(want).ravel()
                cosine = got @ want / (np.linalg.norm(got) * np.linalg.norm(want))
                self.assertGreater(cosine, 1 - 1e-7)

    def test_a_frozen_batch_normalization_trains_through_the_layers(self):
        # A frozen layer normalizes by its moving statistics while training; the trio
        # then runs as layers, and still matches them.
        model = _trio(layers.STWBlock, {}, SHAPES[0], (True, True), seed=11)
        norm = next(
            layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
        )
        norm.trainable = False
        terms, upstream = _terms(SHAPES[0], seed=12), _terms(SHAPES[0], seed=13)
        with _kernel_calls() as calls:
            folded = _outputs_and_gradients(model, terms, upstream, "interpret", True)
        self.assertEqual(calls, {})
        reference = _outputs_and_gradients(model, terms, upstream, "off", True)
        for got, want in zip(folded, reference, strict=True):
            self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)

    def test_a_pair_folded_into_the_triton_product_takes_its_block_alone(self):
        # KERAS_STW_FOLD_CONVOLUTIONS=on folds a block and a stride-1 convolution into one
        # kernel, and the trio runs as layers; a strided convolution does not fold, and
        # the trio folds instead.
        shape = SHAPES[0]
        for strides, want in ((1, {}), (2, {"training": 1})):
            model = _trio(
                layers.STWBlock, {}, shape, (True, True), seed=20, filters=16, strides=strides
            )
            terms = _terms(shape, seed=21)
            upstream = _terms(shape, seed=22, channels=16, strides=strides)
            switch = mock.patch.dict(os.environ, {"KERAS_STW_FOLD_CONVOLUTIONS": "on"})
            with switch, _kernel_calls() as calls:
                folded = _outputs_and_gradients(model, terms, upstream, "interpret", True)
            self.assertEqual(calls, want)
            with switch, kernels.fused_kernels("interpret"):
                self.assertLen(keras_stw.models.folded_trios(model), len(want))
            reference = _outputs_and_gradients(model, terms, upstream, "off", True)
            _assert_close_to_layers(self, folded, reference)

    def test_the_switch_turns_folding_off_and_names_itself(self):
        model = _trio(layers.STWBlock, {}, SHAPES[0], (True, True), seed=6)
        (fold,) = keras_stw.models.residual_folds(model)
        with kernels.fused_kernels("interpret"):
            self.assertEqual(kernels.residual_fold_reason(fold.block, fold.input_shape), "")
            with _residual_folding("off"):
                why = kernels.residual_fold_reason(fold.block, fold.input_shape)
                self.assertIsNone(folding.call_folded(model, _terms(SHAPES[0], 7)))
            self.assertIn("KERAS_STW_FOLD_RESIDUALS=off", why)
            with _residual_folding("yes"), pytest.raises(ValueError, match="'on' or 'off'"):
                kernels.residual_fold_reason(fold.block, fold.input_shape)


class ResidualFoldsTest(TestCase):
    @parameterized.named_parameters(
        ("keras", "keras", 50, 64, 15),
        ("keras_cv", "keras_cv", 26, 16, 7),
        ("keras_hub", "keras_hub", 26, 64, 7),
    )
    def test_every_block_after_the_first_reads_a_residual_sum(self, backbone, depth, width, count):
        model = keras_stw.video_resnet(
            "stw", num_frames=2, num_classes=3, image_shape=(32, 32, 3), depth=depth,
            base_width=width, backbone=backbone,
        )  # fmt: skip
        folds = keras_stw.models.residual_folds(model)
        self.assertLen(folds, count)
        # The first block of a stage has a projection shortcut: both terms are
        # batch-normalized. After it, the shortcut is the block's input as it is.
        first, second = folds[0], folds[1]
        self.assertEqual([norm is not None for norm in first.norms].count(True), 2)
        self.assertEqual([norm is not None for norm in second.norms].count(True), 1)
        self.assertEqual({type(fold.block).__name__ for fold in folds}, {"STWBlock"})
        self.assertTrue(all(residual_folding.is_plain_relu(fold.relu) for fold in folds))

    def test_a_batch_normalization_another_layer_reads_is_not_folded(self):
        terms = [keras.Input((3, 3, 32)) for _ in range(2)]
        normalized = keras.layers.BatchNormalization()(terms[0])
        summed = keras.layers.ReLU()(keras.layers.Add()([normalized, terms[1]]))
        block = layers.STWBlock(2)
        model = keras.Model(terms, [block(summed), normalized])
        (fold,) = keras_stw.models.residual_folds(model)
        self.assertEqual(fold.norms, (None, None))

    def test_inference_folds_nothing_where_the_kernels_cannot_run(self):
        model = _trio(layers.STWBlock, {}, SHAPES[0], (True, True), seed=8)
        self.assertIsNone(folding.call_folded(model, _terms(SHAPES[0], 9), training=False))
        (fold,) = keras_stw.models.residual_folds(model)
        why = kernels.residual_fold_reason(fold.block, fold.input_shape)
        self.assertIn("NVIDIA GPU" if JAX else "JAX backend", why)

    def test_under_auto_a_plain_shift_runs_its_kernel_only_folded(self):
        # Alone, TSM's shift keeps XLA's fusion under "auto", its recomputing pair too;
        # folded into a residual sum it is faster, with or without the convolution, so
        # the trio's checks go on past the shift, to the device here.
        model = _trio(layers.TemporalShift, {}, SHAPES[0], (True, True), seed=10, filters=16)
        (fold,) = keras_stw.models.residual_folds(model)
        ((_, conv),) = keras_stw.models.folding_pairs(model)
        shape = fold.input_shape
        with kernels.fused_kernels("auto"), _recompute("on"):
            alone = kernels.kernel_path(fold.block, shape)
            pair = kernels.fold_reason(fold.block, conv, shape, product="xla")
            folded = kernels.residual_fold_reason(fold.block, shape)
            with_conv = kernels.trio_conv_reason(fold.block, conv, shape)
        self.assertEqual(alone[0], "reference")
        for why in (alone[1], pair):
            self.assertIn("plain shift (TSM)", why)
            self.assertIn("only folded into a residual sum", why)
        for why in (folded, with_conv):
            self.assertIn("NVIDIA GPU" if JAX else "JAX backend", why)

    def test_a_recomputing_trio_runs_an_equally_strided_convolution_too(self):
        block = layers.STWBlock(4)
        block.build((8, 5, 5, 64))

        def reason(strides):
            conv = keras.layers.Conv2D(32, 1, strides=strides)
            return kernels.trio_conv_reason(block, conv, (8, 5, 5, 64), "float32")

        with kernels.fused_kernels("interpret"), _recompute("on"):
            reasons = [reason(strides) for strides in (1, 2, (1, 2))]
        if JAX:
            self.assertEqual(reasons[:2], ["", ""])
            self.assertIn("is not a 1x1, equally strided", reasons[2])
        else:
            self.assertTrue(all("JAX backend" in why for why in reasons))
        with kernels.fused_kernels("interpret"), _recompute("off"):
            self.assertIn("KERAS_STW_RECOMPUTE_BLOCKS=on", reason(2))

    def test_the_inference_affine_is_the_layers_transform(self):
        norm = keras.layers.BatchNormalization(epsilon=1e-3, center=False)
        norm.build((None, 8))
        rng = np.random.default_rng(10)
        for weight in norm.weights:
            weight.assign(np.abs(rng.standard_normal(weight.shape)).astype("float32"))
        x = rng.standard_normal((4, 8)).astype("float32")
        scale, shift = map(keras.ops.convert_to_numpy, residual_folding.inference_affine(norm))
        want = keras.ops.convert_to_numpy(norm(x, training=False))
        self.assertAllClose(x * scale + shift, want, atol=1e-6)
