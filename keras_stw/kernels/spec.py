"""What a temporal block computes, as data the fused kernels and the dispatch share."""

import dataclasses

# Where a channel's value comes from: the previous frame, the frame itself, the next frame.
PREVIOUS, SAME, NEXT = -1, 0, 1
# The matrix products a block folded into a 1x1 convolution can run forward: one Triton
# kernel that never writes the block's output, or the block's kernel and XLA's product.
PRODUCTS = ("triton", "xla")


@dataclasses.dataclass(frozen=True)
class TemporalBlockSpec:
    """One pass over a clip's frames: a channel shift, a motion gate, or their sum.

    For frame `t` of a clip, channel `c`, the block computes

        y[t, c] = scale[c] * x[t + source(c), c]      (the shift; STFM, TSM)
                + x[t, c] * sigmoid(-u[t])            (the gate; TWM)
        u[t] = taps[0] . x[t - 1] + taps[1] . x[t] + taps[2] . x[t + 1] + bias

    where `source(c)` is `PREVIOUS`, `SAME` or `NEXT` by the channel ranges of `segments`
    and a frame outside the clip is zeros or the clip's edge frame (`padding`). STFM with
    `kernel_size=1` is the shift with a scale, TSM the shift without one, TWM the gate
    alone and the parallel STW block both.

    Args:
        num_frames: int. Frames per clip.
        segments: tuple of `(start, stop, source)` channel ranges covering `[0, C)`.
            Empty for a block without a shift.
        padding: str. `"zeros"` or `"replicate"`.
        scale: bool. Whether the shifted channels are multiplied by a learned scale.
        gate: bool. Whether the TWM term is added.
    """

    num_frames: int
    segments: tuple
    padding: str
    scale: bool
    gate: bool

    @property
    def shift(self):
        return bool(self.segments)

    @property
    def weighted(self):
        """Whether the block has weights (a scale or a gate); TSM's plain shift has none."""
        return self.scale or self.gate

    @property
    def channels(self):
        return self.segments[-1][1] if self.segments else None


def split_segments(sizes, sources):
    """`(size, source)` pairs -> `(start, stop, source)` ranges, skipping empty ones."""
    segments, start = [], 0
    for size, source in zip(sizes, sources, strict=True):
        if size:
            segments.append((start, start + size, source))
        start += size
    return tuple(segments)
