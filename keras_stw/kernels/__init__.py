"""Fused GPU kernels behind the temporal layers, and the switch that chooses them.

The temporal layers (`STWBlock`, `STFM`, `TWM`, `TemporalShift`) compute with `keras.ops`
everywhere; on the JAX backend with an NVIDIA GPU they run one fused Pallas kernel per
block instead (forward and backward), the way Keras runs flash attention, a block and
the 1x1 convolution that reads it may run as one folded kernel (`fold_reason`), and a
residual sum's ReLU and the block that reads it run as one (`residual_fold_reason`). Their
`keras.ops` code is the definition of what the kernels compute and is tested against them.
"""

from keras_stw.kernels.dispatch import (
    MODES,
    fold_reason,
    folded_convolution,
    fused_kernels,
    get_fused_kernels,
    kernel_path,
    residual_fold_reason,
    set_fused_kernels,
    trio_conv_reason,
)

__all__ = [
    "MODES",
    "fold_reason",
    "folded_convolution",
    "fused_kernels",
    "get_fused_kernels",
    "kernel_path",
    "residual_fold_reason",
    "set_fused_kernels",
    "trio_conv_reason",
]
