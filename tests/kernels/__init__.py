"""Tests of the fused kernels, and the temporal blocks they share."""

from keras_stw import layers

# The blocks that run as one kernel, by name, with both paddings among them: what a block
# folded into its neighbour (a convolution, a residual sum) is tested with.
ONE_KERNEL_BLOCKS = [
    ("stw", layers.STWBlock, {}),
    ("stw_replicate", layers.STWBlock, {"padding": "replicate"}),
    ("stfm_only", layers.STWBlock, {"combination": "stfm"}),
    ("twm_only", layers.STWBlock, {"combination": "twm", "padding": "replicate"}),
    ("tsm", layers.TemporalShift, {"shift_div": 4}),
]
