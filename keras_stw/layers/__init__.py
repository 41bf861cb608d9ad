"""Temporal layers of keras-stw. Every layer here is part of the public API."""

from keras_stw.layers.clip_to_frames import ClipToFrames
from keras_stw.layers.frame_normalization import FrameNormalization
from keras_stw.layers.stfm import STFM
from keras_stw.layers.stw_block import STWBlock
from keras_stw.layers.temporal_consensus import TemporalConsensus
from keras_stw.layers.temporal_shift import TemporalShift
from keras_stw.layers.twm import TWM

__all__ = [
    "ClipToFrames",
    "FrameNormalization",
    "STFM",
    "STWBlock",
    "TWM",
    "TemporalConsensus",
    "TemporalShift",
]
