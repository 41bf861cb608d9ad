"""The STW block: STFM and TWM combined."""

import dataclasses

import keras

from keras_stw.kernels import dispatch
from keras_stw.layers import temporal_ops
from keras_stw.layers.stfm import STFM
from keras_stw.layers.twm import TWM
from keras_stw.validation import check_positive_int

STW_COMBINATIONS = ("parallel", "stfm_then_twm", "twm_then_stfm", "stfm", "twm")


@keras.saving.register_keras_serializable(package="keras_stw")
class STWBlock(keras.layers.Layer):
    """Spatio-Temporal-Wise block: `STFM(x) + TWM(x)`.

    The paper's block runs STFM and TWM in parallel on the same input and sums them
    (Table 8: 46.3% top-1 on Something-Something v1, against 42.1% and 41.8% for the
    two sequential orders). The other combinations express the paper's ablations:
    `"stfm_then_twm"` and `"twm_then_stfm"` (Table 8), and `"stfm"` or `"twm"` alone
    (Table 6). The output has the input's shape.

    On the JAX backend with an NVIDIA GPU the parallel block runs as one fused kernel that
    reads `x` once and writes `y` once (`keras_stw.kernels`), and each module of the
    sequential combinations runs its own; the `keras.ops` code is their reference.

    Args:
        num_frames: int. Frames per clip; the input's leading axis holds
            `batch * num_frames` frames, clip by clip.
        combination: str. One of `"parallel"`, `"stfm_then_twm"`, `"twm_then_stfm"`,
            `"stfm"`, `"twm"`. Defaults to `"parallel"`.
        ratios: tuple. STFM's `(alpha, beta, gamma)`. Defaults to `(4, 2, 4)`.
        kernel_size: int. STFM's channel-wise kernel size. Defaults to `1`.
        padding: str. `"zeros"` or `"replicate"` at the clip ends, for both modules.
            Defaults to `"zeros"`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> frames = np.random.rand(2 * 8, 14, 14, 64).astype("float32")
    >>> keras_stw.layers.STWBlock(num_frames=8)(frames).shape
    (16, 14, 14, 64)
    """

    def __init__(
        self,
        num_frames,
        combination="parallel",
        ratios=(4, 2, 4),
        kernel_size=1,
        padding="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if combination not in STW_COMBINATIONS:
            raise ValueError(
                f"`combination` must be one of {STW_COMBINATIONS}. "
                f"Received: combination={combination!r}"
            )
        check_positive_int("num_frames", num_frames)
        # === Config ===
        self.num_frames = num_frames
        self.combination = combination
        self.ratios = tuple(ratios)
        self.kernel_size = kernel_size
        self.padding = padding
        # === Layers ===
        self.stfm = None
        self.twm = None
        if combination != "twm":
            self.stfm = STFM(
                num_frames,
                ratios=ratios,
                kernel_size=kernel_size,
                padding=padding,
                dtype=self.dtype_policy,
                name="stfm",
            )
        if combination != "stfm":
            self.twm = TWM(num_frames, padding=padding, dtype=self.dtype_policy, name="twm")

    def build(self, input_shape):
        temporal_ops.validate_frame_shape(input_shape, self.num_frames, "STWBlock")
        for module in (self.stfm, self.twm):
            if module is not None:
                module.build(input_shape)

    def fused_spec(self, channels):
        """The block as a `TemporalBlockSpec` for the fused kernels, or why it has none.

        The parallel block is one kernel: STFM's shift with the TWM's gate added. In the
        other combinations each module runs its own kernel, and this is the STFM's spec
        (the TWM's always exists).
        """
        stfm_spec = None if self.stfm is None else self.stfm.fused_spec(channels)
        if self.combination != "parallel" or isinstance(stfm_spec, str):
            return stfm_spec or self.twm.fused_spec(channels)
        return dataclasses.replace(stfm_spec, gate=True)

    def fused_weights(self):
        """The weights the one fused kernel of the block takes, by name, or `None` where
        the block runs as two kernels (the sequential combinations)."""
        if self.combination == "parallel":
            return {**self.stfm.fused_weights(), **self.twm.fused_weights()}
        if self.combination in ("stfm", "twm"):
            return (self.stfm or self.twm).fused_weights()
        return None

    def call(self, inputs):
        if self.combination == "parallel":
            fused = dispatch.temporal_block(
                inputs, self.fused_spec(inputs.shape[-1]), **self.fused_weights()
            )
            if fused is not None:
                return fused
            return self.stfm(inputs) + self.twm(inputs)
        if self.combination == "stfm_then_twm":
            return self.twm(self.stfm(inputs))
        if self.combination == "twm_then_stfm":
            return self.stfm(self.twm(inputs))
        module = self.stfm if self.combination == "stfm" else self.twm
        return module(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_frames": self.num_frames,
                "combination": self.combination,
                "ratios": self.ratios,
                "kernel_size": self.kernel_size,
                "padding": self.padding,
            }
        )
        return config
