"""The Spatio-Temporal Fusion Module (STFM) of STW."""

import keras
from keras import ops

from keras_stw.kernels import dispatch
from keras_stw.kernels.spec import NEXT, PREVIOUS, SAME, TemporalBlockSpec, split_segments
from keras_stw.layers import temporal_ops
from keras_stw.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_stw")
class STFM(keras.layers.Layer):
    """Spatio-Temporal Fusion Module: each frame borrows channels from its neighbours.

    For frame `t` with features `x_t` of `C` channels, the paper's STFM computes
    `y_t = Concat(Conv_theta(x_{t-1}), Conv_phi(x_t), Conv_varphi(x_{t+1}))`, where the
    three convolutions give `C/alpha`, `C/beta` and `C/gamma` channels and
    `1/alpha + 1/beta + 1/gamma = 1`. Channels `[0, C/alpha)` of the output therefore
    come from the previous frame, the next `C/beta` from frame `t` itself, and the last
    `C/gamma` from the next frame.

    The paper leaves the convolutions' form open; its compute budget (< 2% over TSN)
    rules out dense `C x C` convolutions. Here each is channel-wise (depthwise): output
    channel `c` is a learned `kernel_size x kernel_size` filter of input channel `c` of
    the chosen frame. With the default `kernel_size=1` and `kernel_initializer="ones"`
    the module starts as a TSM-style shift with the paper's ratios and learns
    per-channel weights from there. It is computed as slices, a concatenation and a
    per-channel multiply, which compilers fuse into one memory pass. On the JAX backend
    with an NVIDIA GPU, the default `kernel_size=1` without bias runs as one fused kernel
    instead (`keras_stw.kernels`); this code is its reference.

    Clip ends have no neighbour: `padding="zeros"` (default) feeds zeros there, as TSM
    does; `"replicate"` repeats the edge frame.

    Args:
        num_frames: int. Frames per clip; the input's leading axis holds
            `batch * num_frames` frames, clip by clip.
        ratios: tuple of three numbers or strings (e.g. `"8/7"`). `(alpha, beta, gamma)`;
            their reciprocals must sum to 1. Defaults to the paper's `(4, 2, 4)`; Table 5
            also uses `(16, "8/7", 16)` and `(8, "4/3", 8)`.
        kernel_size: int. Spatial size of each channel-wise convolution. Defaults to `1`.
        padding: str. `"zeros"` or `"replicate"`, what stands in for the missing
            neighbour at the clip's ends. Defaults to `"zeros"`.
        use_bias: bool. Whether to add a per-channel bias. Defaults to `False`.
        kernel_initializer: initializer of the channel-wise kernels. Defaults to
            `"ones"` (a plain temporal shift at the start of training).
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> frames = np.random.rand(2 * 8, 14, 14, 64).astype("float32")
    >>> keras_stw.layers.STFM(num_frames=8)(frames).shape
    (16, 14, 14, 64)
    """

    def __init__(
        self,
        num_frames,
        ratios=(4, 2, 4),
        kernel_size=1,
        padding="zeros",
        use_bias=False,
        kernel_initializer="ones",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_frames", num_frames)
        temporal_ops.validate_padding(padding)
        self._fractions = _validate_ratios(ratios)
        check_positive_int("kernel_size", kernel_size)
        # === Config ===
        self.num_frames = num_frames
        self.ratios = tuple(ratios)
        self.kernel_size = kernel_size
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        temporal_ops.validate_frame_shape(input_shape, self.num_frames, "STFM")
        channels = input_shape[-1]
        self.split_sizes = _split_channels(channels, self._fractions, self.ratios)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, channels, 1),
            initializer=self.kernel_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(channels,), initializer=self.bias_initializer
            )

    def fused_spec(self, channels):
        """This layer as a `TemporalBlockSpec` for the fused kernels, or why it has none."""
        if self.kernel_size != 1 or self.use_bias:
            return (
                f"STFM with kernel_size={self.kernel_size}, use_bias={self.use_bias} "
                "(the kernels cover kernel_size=1 without bias)"
            )
        sizes = _split_channels(channels, self._fractions, self.ratios)
        segments = split_segments(sizes, (PREVIOUS, SAME, NEXT))
        return TemporalBlockSpec(self.num_frames, segments, self.padding, scale=True, gate=False)

    def fused_weights(self):
        """The weights the fused kernel of `fused_spec` takes, by name."""
        return {"scale": self.kernel}

    def call(self, inputs):
        fused = dispatch.temporal_block(
            inputs, self.fused_spec(inputs.shape[-1]), **self.fused_weights()
        )
        if fused is not None:
            return fused
        previous_end = self.split_sizes[0]
        current_end = previous_end + self.split_sizes[1]
        clips = temporal_ops.fold_frames(inputs, self.num_frames)
        gathered = ops.concatenate(
            [
                temporal_ops.shift_frames(clips[..., :previous_end], 1, self.padding),
                clips[..., previous_end:current_end],
                temporal_ops.shift_frames(clips[..., current_end:], -1, self.padding),
            ],
            axis=-1,
        )
        gathered = temporal_ops.unfold_frames(gathered)
        if self.kernel_size == 1:
            outputs = gathered * ops.reshape(self.kernel, (-1,))
        else:
            outputs = ops.depthwise_conv(gathered, self.kernel, padding="same")
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_frames": self.num_frames,
                "ratios": self.ratios,
                "kernel_size": self.kernel_size,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


def _validate_ratios(ratios):
    try:
        fractions = [temporal_ops.parse_ratio(r) for r in ratios]
    except (TypeError, ValueError, ZeroDivisionError) as error:
        raise ValueError(
            "`ratios` must be three positive numbers such as (4, 2, 4) or "
            f"(16, '8/7', 16). Received: ratios={ratios!r}"
        ) from error
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(
            "`ratios` must be three positive numbers (alpha, beta, gamma). "
            f"Received: ratios={ratios!r}"
        )
    if sum(1 / f for f in fractions) != 1:
        raise ValueError(
            "The reciprocals of `ratios` must sum to 1 (1/alpha + 1/beta + 1/gamma = 1), "
            f"e.g. (4, 2, 4). Received: ratios={ratios!r}"
        )
    return fractions


def _split_channels(channels, fractions, ratios):
    sizes = [channels / f for f in fractions]
    if any(size.denominator != 1 for size in sizes):
        raise ValueError(
            f"STFM cannot split {channels} channels by ratios={ratios!r}: C/alpha, "
            "C/beta and C/gamma must all be whole numbers. Received: "
            f"channels={channels}"
        )
    return tuple(int(size) for size in sizes)
