"""Temporal layers of keras-stw. Every layer here is part of the public API.

`STW_COMBINATIONS` lists the values `STWBlock(combination=...)` takes and
`PADDING_MODES` the clip-end paddings of the temporal layers.
"""

from keras_stw.layers.clip_to_frames import ClipToFrames
from keras_stw.layers.frame_normalization import FrameNormalization
from keras_stw.layers.stfm import STFM
from keras_stw.layers.stw_block import STW_COMBINATIONS, STWBlock
from keras_stw.layers.temporal_consensus import TemporalConsensus
from keras_stw.layers.temporal_ops import PADDING_MODES
from keras_stw.layers.temporal_shift import TemporalShift
from keras_stw.layers.twm import TWM

__all__ = [
    "PADDING_MODES",
    "STW_COMBINATIONS",
    "ClipToFrames",
    "FrameNormalization",
    "STFM",
    "STWBlock",
    "TWM",
    "TemporalConsensus",
    "TemporalShift",
]
