"""The Temporal Shift Module (TSM), the paper's main peer."""

import keras
from keras import ops

from keras_stw.kernels import dispatch
from keras_stw.kernels.spec import NEXT, PREVIOUS, SAME, TemporalBlockSpec, split_segments
from keras_stw.layers import temporal_ops
from keras_stw.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_stw")
class TemporalShift(keras.layers.Layer):
    """Temporal Shift Module (Lin et al., TSM): a parameter-free shift along time.

    With `fold = C // shift_div`, channels `[0, fold)` of frame `t` take frame `t + 1`'s
    values (shifted back in time), channels `[fold, 2 * fold)` take frame `t - 1`'s
    (shifted forward), and the rest stay. Zeros fill the clip ends, as in TSM. On the JAX
    backend with an NVIDIA GPU the shift runs as one fused kernel (`keras_stw.kernels`);
    this code is its reference.

    Args:
        num_frames: int. Frames per clip; the input's leading axis holds
            `batch * num_frames` frames, clip by clip.
        shift_div: int. `1 / shift_div` of the channels move each way. Defaults to `8`.
        padding: str. `"zeros"` or `"replicate"` at the clip ends. Defaults to
            `"zeros"`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> frames = np.random.rand(2 * 8, 14, 14, 64).astype("float32")
    >>> keras_stw.layers.TemporalShift(num_frames=8)(frames).shape
    (16, 14, 14, 64)
    """

    def __init__(self, num_frames, shift_div=8, padding="zeros", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_frames", num_frames)
        temporal_ops.validate_padding(padding)
        check_positive_int("shift_div", shift_div, minimum=2)
        # === Config ===
        self.num_frames = num_frames
        self.shift_div = shift_div
        self.padding = padding

    def build(self, input_shape):
        temporal_ops.validate_frame_shape(input_shape, self.num_frames, "TemporalShift")
        if input_shape[-1] < self.shift_div:
            raise ValueError(
                f"TemporalShift with shift_div={self.shift_div} needs at least "
                f"{self.shift_div} channels. Received: input_shape={tuple(input_shape)}"
            )

    def fused_spec(self, channels):
        """This layer as a `TemporalBlockSpec` for the fused kernels."""
        fold = channels // self.shift_div
        segments = split_segments((fold, fold, channels - 2 * fold), (NEXT, PREVIOUS, SAME))
        return TemporalBlockSpec(self.num_frames, segments, self.padding, scale=False, gate=False)

    def fused_weights(self):
        """The weights the fused kernel of `fused_spec` takes: none."""
        return {}

    def call(self, inputs):
        fused = dispatch.temporal_block(
            inputs, self.fused_spec(inputs.shape[-1]), **self.fused_weights()
        )
        if fused is not None:
            return fused
        fold = inputs.shape[-1] // self.shift_div
        clips = temporal_ops.fold_frames(inputs, self.num_frames)
        shifted = ops.concatenate(
            [
                temporal_ops.shift_frames(clips[..., :fold], -1, self.padding),
                temporal_ops.shift_frames(clips[..., fold : 2 * fold], 1, self.padding),
                clips[..., 2 * fold :],
            ],
            axis=-1,
        )
        return temporal_ops.unfold_frames(shifted)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_frames": self.num_frames,
                "shift_div": self.shift_div,
                "padding": self.padding,
            }
        )
        return config
