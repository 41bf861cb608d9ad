"""The fused kernels compute what the layers' `keras.ops` code computes.

Under JAX the kernels run through Pallas's interpreter on the CPU (`"interpret"`), and the
outputs and every gradient (inputs and weights) are compared with the `keras.ops`
reference (`"off"`), at odd shapes, `T = 1`, both paddings and every combination, and
the bfloat16 kernel against the float32 reference. Under
TensorFlow and PyTorch the layers take the reference path, and forcing the kernels on
names why they cannot run.
"""

import os
from unittest import mock

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from keras_stw import kernels, layers
from tests.test_case import TestCase

JAX = keras.backend.backend() == "jax"
BLOCKS = [
    ("stw", layers.STWBlock, {}),
    ("stw_replicate", layers.STWBlock, {"padding": "replicate"}),
    ("stfm_then_twm", layers.STWBlock, {"combination": "stfm_then_twm"}),
    ("twm_then_stfm", layers.STWBlock, {"combination": "twm_then_stfm", "padding": "replicate"}),
    ("stfm_only", layers.STWBlock, {"combination": "stfm", "ratios": (8, "4/3", 8)}),
    ("twm_only", layers.STWBlock, {"combination": "twm"}),
    ("tsm", layers.TemporalShift, {}),
    ("tsm_replicate", layers.TemporalShift, {"padding": "replicate", "shift_div": 4}),
]
# (clips, num_frames, height, width, channels): a pixel count that is not a power of two
# (the last tile is masked), one frame, and a tile of several pixels.
SHAPES = [(2, 3, 3, 5, 8), (3, 1, 2, 2, 16), (1, 4, 4, 4, 8)]


def _random_layer(layer_class, kwargs, shape, seed):
    clips, num_frames, height, width, channels = shape
    layer = layer_class(num_frames, **kwargs)
    layer.build((clips * num_frames, height, width, channels))
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.7)
    return layer


def _frames(shape, seed):
    clips, num_frames, height, width, channels = shape
    rng = np.random.default_rng(seed)
    return rng.standard_normal((clips * num_frames, height, width, channels)).astype("float32")


@pytest.mark.jax_only
class FusedKernelParityTest(TestCase):
    def _outputs_and_gradients(self, layer, frames, upstream, mode):
        with kernels.fused_kernels(mode):
            outputs = keras.ops.convert_to_numpy(layer(frames))
            gradients = self.layer_gradients(layer, frames, upstream)
        return [outputs, *gradients]

    def _assert_tuned_kernel_matches(self, layer_class, kwargs, shape, tuning, seed):
        """The kernel with the tuning variables `tuning` gives the reference's output and
        gradients."""
        layer = _random_layer(layer_class, kwargs, shape, seed=seed)
        frames, upstream = _frames(shape, seed=seed + 1), _frames(shape, seed=seed + 2)
        with mock.patch.dict(os.environ, tuning):
            fused = self._outputs_and_gradients(layer, frames, upstream, "interpret")
        reference = self._outputs_and_gradients(layer, frames, upstream, "off")
        for got, want in zip(fused, reference, strict=True):
            self.assertAllClose(got, want, atol=1e-5, rtol=1e-5)

    @parameterized.named_parameters(
        (f"{name}_{i}", layer_class, kwargs, shape)
        for name, layer_class, kwargs in BLOCKS
        for i, shape in enumerate(SHAPES)
    )
    def test_forward_and_every_gradient_match_the_reference(self, layer_class, kwargs, shape):
        layer = _random_layer(layer_class, kwargs, shape, seed=len(kwargs))
        frames = _frames(shape, seed=1)
        upstream = _frames(shape, seed=2)
        fused = self._outputs_and_gradients(layer, frames, upstream, "interpret")
        reference = self._outputs_and_gradients(layer, frames, upstream, "off")
        self.assertEqual(len(fused), 1 + 1 + len(layer.trainable_weights))
        for got, want in zip(fused, reference, strict=True):
            self.assertAllClose(got, want, atol=1e-5, rtol=1e-5)

    @parameterized.named_parameters(
        ("stw", layers.STWBlock, {}),
        ("stw_replicate", layers.STWBlock, {"padding": "replicate"}),
        ("tsm", layers.TemporalShift, {}),
    )
    def test_programs_walking_several_masked_tiles_match_the_reference(self, layer_class, kwargs):
        # Tiles of 2 pixels, 2 backward programs per clip: 15 pixels make 8 tiles, so each
        # program walks a block of 4 tiles and the second stops after its masked last one.
        tuning = {
            "KERAS_STW_KERNEL_TILE_ELEMENTS": "16",
            "KERAS_STW_KERNEL_BACKWARD_TILE_ELEMENTS": "16",
            "KERAS_STW_KERNEL_BACKWARD_PROGRAMS_PER_CLIP": "2",
        }
        self._assert_tuned_kernel_matches(layer_class, kwargs, (2, 3, 3, 5, 8), tuning, seed=9)

    def test_each_pass_takes_its_own_pipeline_stages_and_loads_ahead(self):
        from keras_stw.kernels import pallas_temporal_block

        shape = (2, 4, 3, 3, 8)
        layer = _random_layer(layers.STWBlock, {}, shape, seed=12)
        frames, upstream = _frames(shape, seed=13), _frames(shape, seed=14)
        spy = mock.patch.object(
            pallas_temporal_block, "_compiled", wraps=pallas_temporal_block._compiled
        )
        tuning = {
            "KERAS_STW_KERNEL_BACKWARD_NUM_STAGES": "3",
            "KERAS_STW_KERNEL_PREFETCH_FRAMES": "2",
        }
        with mock.patch.dict(os.environ, tuning), spy as compiled:
            self._outputs_and_gradients(layer, frames, upstream, "interpret")
        # `_compiled(kernel, ..., tiling)`: the tiling ends with the stages and the frames
        # whose loads a step issues ahead.
        settings = {call.args[0].__name__: call.args[-1][3:] for call in compiled.call_args_list}
        self.assertEqual(settings, {"_forward_kernel": (1, 2), "_backward_kernel": (3, 1)})

    @parameterized.named_parameters(
        (f"{name}_{ahead}", layer_class, kwargs, ahead)
        for name, layer_class, kwargs in BLOCKS[:2] + BLOCKS[-1:]
        for ahead in (1, 5)
    )
    def test_loads_issued_frames_ahead_match_the_reference(self, layer_class, kwargs, ahead):
        # 5 frames ahead reaches past the clip's last frame from its first.
        tuning = {
            "KERAS_STW_KERNEL_PREFETCH_FRAMES": str(ahead),
            "KERAS_STW_KERNEL_BACKWARD_PREFETCH_FRAMES": str(ahead),
        }
        self._assert_tuned_kernel_matches(layer_class, kwargs, (2, 4, 3, 5, 8), tuning, seed=15)

    @parameterized.named_parameters(
        ("256", 256, 8, 8, 1),
        ("512", 512, 2, 8, 2),
        ("1024", 1024, 1, 4, 2),
        ("2048", 2048, 1, 4, 0),
    )
    def test_wider_frames_take_smaller_backward_tiles(self, channels, pixels, warps, ahead):
        # The forward pass keeps 2048 elements, 4 warps and one frame ahead; the backward
        # pass takes the tile measured fastest at that ResNet-50 stage (`backward_tiling`).
        import jax

        from keras_stw.kernels import pallas_temporal_block

        spec = layers.STWBlock(2).fused_spec(channels)
        x = np.ones((1, 2, 9, channels), "float32")
        weights = (np.ones(channels, "float32"), np.ones((3, channels), "float32"), 0.0)
        spy = mock.patch.object(
            pallas_temporal_block, "_compiled", wraps=pallas_temporal_block._compiled
        )
        with spy as compiled:
            y, pullback = jax.vjp(
                lambda x: pallas_temporal_block.temporal_block(x, *weights, spec, True), x
            )
            pullback(y)
        # `_compiled(kernel, ..., tiling)`: `(pixels, tiles, warps, stages, ahead)`.
        tilings = {call.args[0].__name__: call.args[-1][::2] for call in compiled.call_args_list}
        forward_pixels = min(16, 2048 // channels)
        self.assertEqual(tilings["_forward_kernel"], (forward_pixels, 4, 1))
        self.assertEqual(tilings["_backward_kernel"], (pixels, warps, ahead))

    @parameterized.named_parameters(
        ("stw", layers.STWBlock, {}, 2),
        ("twm", layers.STWBlock, {"combination": "twm"}, 2),
        ("stfm", layers.STWBlock, {"combination": "stfm"}, 1),
        ("tsm", layers.TemporalShift, {}, 0),
    )
    def test_the_backward_pass_keeps_x_and_one_gate_per_pixel(self, layer_class, kwargs, kept):
        # What the custom VJP keeps: `x` and the gate's float32 value per pixel and frame
        # for a block with a gate, `x` for a shift with a scale, nothing frame-sized for
        # a plain shift.
        import jax

        from keras_stw.kernels import pallas_temporal_block

        spec = layer_class(4, **kwargs).fused_spec(8)
        x = np.ones((2, 4, 9, 8), "bfloat16")
        weights = (np.ones(8, "float32"), np.ones((3, 8), "float32"), 0.0)
        _, pullback = jax.vjp(
            lambda x: pallas_temporal_block.temporal_block(x, *weights, spec, True), x
        )
        frame_sized = [
            (leaf.shape, str(leaf.dtype))
            for leaf in jax.tree_util.tree_leaves(pullback)
            if leaf.ndim == 4
        ]
        expected = [((2, 4, 9, 8), "bfloat16"), ((2, 4, 9, 1), "float32")]
        self.assertEqual(sorted(frame_sized), sorted(expected[:kept]))

    @parameterized.named_parameters(
        (f"{name}_{i}", layer_class, kwargs, shape)
        for name, layer_class, kwargs in BLOCKS
        if "then" not in name  # The sequential combinations run as two kernels.
        for i, shape in enumerate(SHAPES)
    )
    def test_the_backward_pass_writes_the_output_again_when_asked(self, layer_class, kwargs, shape):
        # The recomputing pair drops `y` after the forward pass and takes it back from
        # the backward kernel (`output_again`): the forward kernel's values, and the
        # same gradients as without it.
        from keras_stw.kernels import dispatch, pallas_temporal_block

        clips, num_frames, height, width, channels = shape
        layer = _random_layer(layer_class, kwargs, shape, seed=15)
        spec = layer.fused_spec(channels)
        x = _frames(shape, seed=16).reshape(clips, num_frames, height * width, channels)
        dy = _frames(shape, seed=17).reshape(x.shape)
        weights = dispatch._kernel_weights(channels, **layer.fused_weights())
        results = {}
        for again in (False, True):
            y, saved = pallas_temporal_block.block_forward(
                x, *weights, spec, interpret=True, output_again=again
            )
            results[again] = pallas_temporal_block.block_backward(
                saved, dy, *weights, spec, interpret=True, output_again=again
            )
        (dx, grads, none), (dx_again, grads_again, y_again) = results[False], results[True]
        self.assertIsNone(none)
        # The same arithmetic in another program: XLA may contract a product and a sum
        # differently, so float32 rounding, not exact equality.
        for got, want in zip((y_again, dx_again, *grads_again), (y, dx, *grads), strict=True):
            self.assertAllClose(got, want, atol=1e-6, rtol=1e-6)

    @parameterized.named_parameters(
        ("stw", {}), ("twm_then_stfm", {"combination": "twm_then_stfm"})
    )
    def test_bfloat16_forward_and_every_gradient_match_float32(self, kwargs):
        # The bfloat16 kernel against the float32 reference with the same (bfloat16)
        # weights and inputs: max |a - b| / max |b| under 1e-2 for each output.
        shape = (2, 4, 3, 3, 16)
        layer = _random_layer(layers.STWBlock, {**kwargs, "dtype": "bfloat16"}, shape, seed=3)
        exact = layers.STWBlock(4, **kwargs, dtype="float32")
        exact.build((8, 3, 3, 16))
        exact.set_weights([np.float32(w) for w in layer.get_weights()])
        frames = keras.ops.cast(_frames(shape, seed=4), "bfloat16")
        upstream = _frames(shape, seed=5)
        fused = self._outputs_and_gradients(layer, frames, upstream, "interpret")
        frames32 = keras.ops.cast(frames, "float32")
        reference = self._outputs_and_gradients(exact, frames32, upstream, "off")
        self.assertEqual(len(fused), 2 + len(layer.trainable_weights))
        for got, want in zip(fused, reference, strict=True):
            got, want = np.float32(got), np.float32(want)
            self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-2)

    def test_eager_calls_reuse_the_compiled_kernel(self):
        # Batch-norm re-estimation calls the model eagerly, batch after batch: a kernel
        # built anew for each call would be compiled anew each time.
        from keras_stw.kernels import pallas_temporal_block

        block = _random_layer(layers.STWBlock, {}, (2, 4, 3, 3, 8), seed=7)
        frames = _frames((2, 4, 3, 3, 8), seed=8)
        with kernels.fused_kernels("interpret"):
            block(frames)
            before = pallas_temporal_block._compiled.cache_info()
            for _ in range(3):
                block(frames)
            after = pallas_temporal_block._compiled.cache_info()
        self.assertEqual(after.misses, before.misses)
        self.assertEqual(after.hits, before.hits + 3)

    def test_a_jitted_training_step_is_the_same_on_both_paths(self):
        shape = (2, 4, 3, 3, 8)
        frames, targets = _frames(shape, seed=5), _frames(shape, seed=6)
        weights = []
        for mode in ("interpret", "off"):
            with kernels.fused_kernels(mode):
                keras.utils.set_random_seed(0)
                inputs = keras.Input(shape[2:])
                outputs = layers.STWBlock(4)(inputs)
                model = keras.Model(inputs, keras.layers.Conv2D(8, 1)(outputs))
                model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
                model.fit(frames, targets, batch_size=8, epochs=2, shuffle=False, verbose=0)
                weights.append(model.get_weights())
        for fused, reference in zip(*weights, strict=True):
            self.assertAllClose(fused, reference, atol=1e-5, rtol=1e-5)


class DispatchTest(TestCase):
    def test_the_reference_runs_where_the_kernels_cannot(self):
        # This machine has no GPU: "auto" takes the reference path and says why.
        path, reason = kernels.kernel_path(layers.STWBlock(4), (8, 5, 5, 64))
        self.assertEqual(path, "reference")
        self.assertRegex(reason, "GPU" if JAX else "JAX backend")

    def test_auto_keeps_xla_for_a_plain_shift(self):
        path, reason = kernels.kernel_path(layers.TemporalShift(4), (8, 5, 5, 64))
        self.assertEqual(path, "reference")
        self.assertIn("XLA", reason)

    @parameterized.named_parameters(
        # A layer option without a kernel is named on every backend; a shape the kernel
        # does not take is checked on JAX, after the backend.
        ("stfm_kernel_size_3", layers.STFM(4, kernel_size=3), 64, "kernel_size=3"),
        ("stw_kernel_size_3", layers.STWBlock(4, kernel_size=3), 64, "kernel_size=3"),
        ("twelve_channels", layers.TWM(4), 12, "power of two" if JAX else "JAX backend"),
    )
    def test_options_the_kernels_do_not_cover_are_named(self, layer, channels, reason):
        with kernels.fused_kernels("interpret"):
            path, why = kernels.kernel_path(layer, (8, 5, 5, channels))
        self.assertEqual(path, "reference")
        self.assertIn(reason, why)

    def test_forcing_the_kernels_where_they_cannot_run_is_an_error(self):
        block = layers.STWBlock(4)
        with kernels.fused_kernels("on"), pytest.raises(RuntimeError, match="cannot run: "):
            block(_frames((2, 4, 3, 3, 8), seed=0))

    def test_forcing_a_layer_option_without_a_kernel_is_an_error(self):
        with kernels.fused_kernels("interpret"), pytest.raises(RuntimeError, match="kernel_size=3"):
            layers.STFM(4, kernel_size=3)(_frames((2, 4, 3, 3, 8), seed=0))

    def test_unknown_mode(self):
        with pytest.raises(ValueError, match="mode"):
            kernels.set_fused_kernels("fast")

    def test_weights_and_config_do_not_depend_on_the_path(self):
        configs, weight_names = [], []
        for mode in ("off", "auto"):
            with kernels.fused_kernels(mode):
                block = layers.STWBlock(4, name="block")
                block(_frames((2, 4, 3, 3, 8), seed=0))
                configs.append(block.get_config())
                weight_names.append([w.path for w in block.weights])
        self.assertEqual(configs[0], configs[1])
        self.assertEqual(weight_names[0], weight_names[1])
