"""A temporal block folded into the 1x1 convolution that reads it computes what the two
layers compute.

Under JAX the folded kernel runs through Pallas's interpreter on the CPU (`"interpret"`)
and its output and every gradient (input, block weights, convolution kernel and bias) are
compared with the layers' `keras.ops` code and `Conv2D` (`"off"`), at a pixel count that
is not a power of two, `T = 1`, both paddings and each block that runs as one kernel; then
a whole video model with its blocks folded against the same model unfolded. Under
TensorFlow and PyTorch a model never folds.
"""

import os
from unittest import mock

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw import kernels, layers
from keras_stw.kernels import dispatch
from keras_stw.models import folding
from tests.kernels import ONE_KERNEL_BLOCKS
from tests.test_case import TestCase

JAX = keras.backend.backend() == "jax"
BLOCKS = ONE_KERNEL_BLOCKS
# (clips, num_frames, height, width, channels, filters): a pixel count that is not a power
# of two (the last tile is masked), one frame, and several channel chunks a segment.
SHAPES = [(2, 3, 3, 5, 64, 16), (3, 1, 2, 2, 64, 32), (1, 4, 4, 4, 256, 16)]


def _folding(setting="on", product="triton"):
    """The switch of `product`'s folding set to `setting` (both are off by default):
    `KERAS_STW_FOLD_CONVOLUTIONS` for the Triton product, `KERAS_STW_RECOMPUTE_BLOCKS`
    for XLA's."""
    variable = {"triton": "KERAS_STW_FOLD_CONVOLUTIONS", "xla": "KERAS_STW_RECOMPUTE_BLOCKS"}
    return mock.patch.dict(os.environ, {variable[product]: setting})


def _random_pair(layer_class, kwargs, shape, seed, dtype="float32"):
    clips, num_frames, height, width, channels, filters = shape
    layer = layer_class(num_frames, **kwargs, dtype=dtype)
    frames_shape = (clips * num_frames, height, width, channels)
    layer.build(frames_shape)
    conv = keras.layers.Conv2D(filters, 1, dtype=dtype)
    conv.build(frames_shape)
    rng = np.random.default_rng(seed)
    for weight in layer.weights + conv.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.7)
    return layer, conv


def _frames(shape, seed, channels_index=4):
    clips, num_frames, height, width = shape[:4]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((clips * num_frames, height, width, shape[channels_index]))


def _outputs_and_gradients(layer, conv, frames, upstream, folded, product="triton"):
    """The pair's output, then the gradients of `sum(output * upstream)` for the frames,
    the block's weights and the convolution's kernel and bias; `folded` with `product`
    as the forward pass's matrix product."""
    import jax

    variables = layer.trainable_weights + conv.trainable_weights

    def loss(values, x):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            if folded:
                with kernels.fused_kernels("interpret"), _folding(product=product):
                    outputs = dispatch.folded_convolution(x, layer, conv, product)
                assert outputs is not None, "the pair did not fold"
            else:
                with kernels.fused_kernels("off"):
                    outputs = conv(layer(x))
        return (outputs.astype("float32") * upstream).sum(), outputs

    (_, outputs), (d_values, d_frames) = jax.value_and_grad(loss, (0, 1), has_aux=True)(
        [v.value for v in variables], frames
    )
    return [np.float32(value) for value in (outputs, d_frames, *d_values)]


@pytest.mark.jax_only
class FoldedConvolutionParityTest(TestCase):
    @parameterized.named_parameters(
        (f"{name}_{i}_{product}", layer_class, kwargs, shape, product)
        for name, layer_class, kwargs in BLOCKS
        for i, shape in enumerate(SHAPES)
        for product in ("triton", "xla")
        if product == "triton" or i < 2
    )
    def test_forward_and_every_gradient_match_the_layers(self, layer_class, kwargs, shape, product):
        layer, conv = _random_pair(layer_class, kwargs, shape, seed=len(kwargs))
        frames = _frames(shape, seed=1).astype("float32")
        upstream = _frames(shape, seed=2, channels_index=5).astype("float32")
        folded = _outputs_and_gradients(layer, conv, frames, upstream, True, product)
        reference = _outputs_and_gradients(layer, conv, frames, upstream, folded=False)
        self.assertEqual(len(folded), 2 + len(layer.trainable_weights) + 2)
        # max |a - b| / max |b|: the gate's gradient sums up to 256 channels' products,
        # in another order than the layers'.
        for got, want in zip(folded, reference, strict=True):
            self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-5)

    @parameterized.parameters("triton", "xla")
    def test_bfloat16_forward_and_every_gradient_match_float32(self, product):
        # max |a - b| / max |b| against float32, for each output: under 1e-2, as for the
        # block's own kernel, or no more than 1.5x the error of the layers' own bfloat16
        # path (the gate's bias and the convolution's bias sum a bfloat16 gradient over
        # every pixel, and pass 1e-2 on neither path).
        shape = (2, 4, 3, 3, 64, 32)
        layer, conv = _random_pair(layers.STWBlock, {}, shape, seed=3, dtype="bfloat16")
        exact, exact_conv = _random_pair(layers.STWBlock, {}, shape, seed=3)
        exact.set_weights([np.float32(w) for w in layer.get_weights()])
        exact_conv.set_weights([np.float32(w) for w in conv.get_weights()])
        frames = keras.ops.cast(_frames(shape, seed=4), "bfloat16")
        upstream = _frames(shape, seed=5, channels_index=5).astype("float32")
        folded = _outputs_and_gradients(layer, conv, frames, upstream, True, product)
        unfolded = _outputs_and_gradients(layer, conv, frames, upstream, folded=False)
        frames32 = keras.ops.cast(frames, "float32")
        reference = _outputs_and_gradients(exact, exact_conv, frames32, upstream, folded=False)
        for got, layers_bf16, want in zip(folded, unfolded, reference, strict=True):
            scale = np.abs(want).max()
            error, layers_error = (np.abs(v - want).max() / scale for v in (got, layers_bf16))
            self.assertLess(error, max(1e-2, 1.5 * layers_error))

    def test_the_recomputing_backward_pass_runs_no_second_forward_kernel(self):
        # With XLA's product, the pair's backward pass takes the block's output back from
        # the block's backward kernel (one more write) instead of running the forward
        # kernel again (a read of `x` and a write of `y`): one kernel of each pass.
        import jax

        from keras_stw.kernels import pallas_temporal_block

        shape = SHAPES[0]
        layer, conv = _random_pair(layers.STWBlock, {}, shape, seed=6)
        frames = _frames(shape, seed=7).astype("float32")
        upstream = _frames(shape, seed=8, channels_index=5).astype("float32")
        spy = mock.patch.object(
            pallas_temporal_block, "_compiled", wraps=pallas_temporal_block._compiled
        )
        with spy as compiled, jax.disable_jit():
            _outputs_and_gradients(layer, conv, frames, upstream, True, "xla")
        kernels_run = [call.args[0].__name__ for call in compiled.call_args_list]
        self.assertEqual(kernels_run, ["_forward_kernel", "_backward_kernel"])

    @parameterized.parameters("triton", "xla")
    def test_a_video_model_folds_its_blocks_and_keeps_its_outputs_and_gradients(self, product):
        import jax

        from keras_stw.kernels import pallas_block_conv

        keras.utils.set_random_seed(0)
        model = keras_stw.video_resnet(
            "stw",
            num_frames=4,
            num_classes=5,
            image_shape=(32, 32, 3),
            depth=26,
            base_width=16,
            backbone="keras_cv",
        )
        clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def loss(values, mode):
            with kernels.fused_kernels(mode):
                outputs, _ = model.stateless_call(values, frozen, clips, training=True)
            return (outputs * np.arange(5.0)).sum(), outputs

        results = {}
        spy = mock.patch.object(pallas_block_conv, "block_conv", wraps=pallas_block_conv.block_conv)
        for mode in ("interpret", "off"):
            with _folding(product=product), spy as block_conv:
                (_, outputs), grads = jax.value_and_grad(loss, has_aux=True)(trainable, mode)
            results[mode] = [outputs, *grads]
            # The stride-1 first convolutions of stages 2 to 5 (5 of 8 blocks; KerasCV
            # puts the stride of a stage's first block in its 1x1 convolution) folded.
            # Recomputing, the 4 of them that read a residual sum's block run in that
            # sum's kernel instead (tests/kernels/test_residual_folding.py), as do the
            # strided ones.
            products = [call.kwargs["product"] for call in block_conv.call_args_list]
            folded = 5 if product == "triton" else 1
            self.assertEqual(products, [product] * folded if mode == "interpret" else [])
        (outputs, *grads), (want, *want_grads) = results["interpret"], results["off"]
        self.assertLess(np.abs(outputs - want).max() / np.abs(want).max(), 1e-5)
        # The folded product sums in another order; through batch statistics and ReLUs
        # that moves a few gradient entries by more than rounding, so each gradient is
        # compared by its direction (a wrong gradient term turns it).
        for got, want in zip(grads, want_grads, strict=True):
            got, want = np.float64(got).ravel(), np.float64(want).ravel()
            cosine = got @ want / (np.linalg.norm(got) * np.linalg.norm(want))
            self.assertGreater(cosine, 0.99999)


class FoldReasonTest(TestCase):
    def test_a_model_folds_only_on_jax(self):
        model = keras_stw.video_resnet(
            "stw", num_frames=2, num_classes=3, image_shape=(32, 32, 3), depth=26,
            base_width=16, backbone="keras_cv",
        )  # fmt: skip
        self.assertLen(keras_stw.models.folding_pairs(model), 8)
        clips = np.zeros((1, 2, 32, 32, 3), "float32")
        with kernels.fused_kernels("interpret"), _folding():
            folded = folding.call_folded(model, clips)
        self.assertEqual(folded is not None, JAX)

    @parameterized.named_parameters(
        ("strided", {"strides": 2}, layers.STWBlock(4), "stride-1"),
        ("activation", {"activation": "relu"}, layers.STWBlock(4), "activation"),
        ("filters", {"filters": 24}, layers.STWBlock(4), "power of two"),
        ("narrow_shift", {}, layers.TemporalShift(4), "narrower than 16"),
        ("sequential", {}, layers.STWBlock(4, combination="stfm_then_twm"), "one kernel"),
    )
    def test_pairs_the_kernel_does_not_cover_are_named(self, conv_options, block, reason):
        conv = keras.layers.Conv2D(**{"filters": 32, "kernel_size": 1, **conv_options})
        block.build((8, 5, 5, 64))
        with kernels.fused_kernels("interpret"), _folding():
            why = kernels.fold_reason(block, conv, (8, 5, 5, 64), "float32")
        self.assertIn(reason if JAX or reason == "one kernel" else "JAX backend", why)

    @pytest.mark.jax_only
    def test_auto_folds_up_to_128_outputs_and_says_what_more_would_cost(self):
        from keras_stw.kernels import dispatch

        spec = layers.STWBlock(4).fused_spec(64)
        reasons = {
            filters: dispatch._conv_reason(
                keras.layers.Conv2D(filters, 1), spec, 64, "auto", "triton"
            )
            for filters in (128, 256)
        }
        self.assertEqual(reasons[128], "")
        self.assertIn("stops at 128", reasons[256])
        self.assertIn("1.6x slower", reasons[256])
        self.assertIn("mode 'on' folds it", reasons[256])

    def test_folding_is_off_unless_switched_on(self):
        block, conv = layers.STWBlock(4), keras.layers.Conv2D(32, 1)
        block.build((8, 5, 5, 64))
        with kernels.fused_kernels("interpret"):
            why = kernels.fold_reason(block, conv, (8, 5, 5, 64), "float32")
            self.assertIn("KERAS_STW_FOLD_CONVOLUTIONS=on", why)
            with _folding("yes"), pytest.raises(ValueError, match="'on' or 'off'"):
                kernels.fold_reason(block, conv, (8, 5, 5, 64), "float32")
