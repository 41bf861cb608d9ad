"""The Temporal-Wise Module (TWM) of STW."""

import keras
from keras import ops

from keras_stw.kernels import dispatch
from keras_stw.kernels.spec import TemporalBlockSpec
from keras_stw.layers import temporal_ops
from keras_stw.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_stw")
class TWM(keras.layers.Layer):
    """Temporal-Wise Module: suppresses static regions, keeps moving ones.

    The paper views the clip `X` as `C x T x H x W` and computes
    `U = Conv3D_lambda(X)` with a `3 x 1 x 1` kernel (three frames along time) and one
    output channel, `S = sigmoid(U)`, `V = X * S` and returns `Z = X - V`. The gate `S`
    is one value per (frame, pixel), shared by all channels, and depends only on frames
    `t - 1`, `t` and `t + 1`. It acts like cheap optical flow on sparsely sampled
    frames.

    The 3x1x1 convolution with one output channel is computed as one matrix product of
    the features with a `(C, 3)` kernel (the three temporal taps), a shift of those
    three small maps along time, and a sum; `Z = X * sigmoid(-U)` is the same value as
    `X - X * sigmoid(U)` in one fused multiply. Only 3-channel maps are moved along
    time, never the full activation. On the JAX backend with an NVIDIA GPU the module runs
    as one fused kernel instead (`keras_stw.kernels`); this code is its reference.

    Clip ends: `padding="zeros"` (default) treats the missing neighbour as zeros, as a
    `Conv3D` with `"same"` padding does; `"replicate"` repeats the edge frame.

    Args:
        num_frames: int. Frames per clip; the input's leading axis holds
            `batch * num_frames` frames, clip by clip.
        padding: str. `"zeros"` or `"replicate"`. Defaults to `"zeros"`.
        kernel_initializer: initializer of the `(3, C)` temporal kernel. Defaults to
            `"zeros"`, so the gate starts at 0.5 everywhere (no motion preference).
        bias_initializer: initializer of the scalar bias. Defaults to `"zeros"`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> frames = np.random.rand(2 * 8, 14, 14, 64).astype("float32")
    >>> keras_stw.layers.TWM(num_frames=8)(frames).shape
    (16, 14, 14, 64)
    """

    def __init__(
        self,
        num_frames,
        padding="zeros",
        kernel_initializer="zeros",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_frames", num_frames)
        temporal_ops.validate_padding(padding)
        # === Config ===
        self.num_frames = num_frames
        self.padding = padding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        temporal_ops.validate_frame_shape(input_shape, self.num_frames, "TWM")
        # Row k holds the weights of temporal tap k: frame t-1, t, t+1.
        self.kernel = self.add_weight(
            name="kernel",
            shape=(3, input_shape[-1]),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(), initializer=self.bias_initializer)

    def gate_logits(self, inputs):
        """Returns `U`, shape `(batch * num_frames, H, W, 1)`."""
        # Each frame's three temporal taps, before they are shifted: (..., 3).
        taps = ops.matmul(inputs, ops.transpose(self.kernel))
        taps = temporal_ops.fold_frames(taps, self.num_frames)
        logits = (
            temporal_ops.shift_frames(taps[..., 0:1], 1, self.padding)
            + taps[..., 1:2]
            + temporal_ops.shift_frames(taps[..., 2:3], -1, self.padding)
        )
        return temporal_ops.unfold_frames(logits) + self.bias

    def fused_spec(self, channels):
        """This layer as a `TemporalBlockSpec` for the fused kernels."""
        del channels  # The gate takes any channel count the kernels do.
        return TemporalBlockSpec(self.num_frames, (), self.padding, scale=False, gate=True)

    def fused_weights(self):
        """The weights the fused kernel of `fused_spec` takes, by name."""
        return {"taps": self.kernel, "bias": self.bias}

    def call(self, inputs):
        fused = dispatch.temporal_block(
            inputs, self.fused_spec(inputs.shape[-1]), **self.fused_weights()
        )
        if fused is not None:
            return fused
        return inputs * ops.sigmoid(-self.gate_logits(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_frames": self.num_frames,
                "padding": self.padding,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
