"""Independent NumPy references for the paper's equations, written frame by frame."""

import numpy as np


def _neighbour(clip, t, padding):
    """Frame t of a clip (T, H, W, C), or the clip-end stand-in outside [0, T)."""
    if 0 <= t < len(clip):
        return clip[t]
    if padding == "zeros":
        return np.zeros_like(clip[0])
    return clip[min(max(t, 0), len(clip) - 1)]


def _depthwise_same(frame, kernel):
    """Depthwise 'same' convolution of one frame (H, W, C) by kernel (k, k, C)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    padded = np.pad(frame, ((pad, k - 1 - pad), (pad, k - 1 - pad), (0, 0)))
    out = np.zeros_like(frame)
    for i in range(k):
        for j in range(k):
            out += padded[i : i + frame.shape[0], j : j + frame.shape[1]] * kernel[i, j]
    return out


def stfm(frames, num_frames, split_sizes, kernel, bias=None, padding="zeros"):
    """y_t = Concat(conv_theta(x_{t-1}), conv_phi(x_t), conv_varphi(x_{t+1}))."""
    c1 = split_sizes[0]
    c2 = c1 + split_sizes[1]
    clips = frames.reshape(-1, num_frames, *frames.shape[1:])
    out = np.zeros_like(clips)
    for b, clip in enumerate(clips):
        for t in range(num_frames):
            gathered = np.concatenate(
                [
                    _neighbour(clip, t - 1, padding)[..., :c1],
                    clip[t][..., c1:c2],
                    _neighbour(clip, t + 1, padding)[..., c2:],
                ],
                axis=-1,
            )
            out[b, t] = _depthwise_same(gathered, kernel[..., 0])
            if bias is not None:
                out[b, t] += bias
    return out.reshape(frames.shape)


def twm(frames, num_frames, kernel, bias, padding="zeros"):
    """Z = X - X * sigmoid(Conv3D_{3x1x1, 1 channel}(X))."""
    clips = frames.reshape(-1, num_frames, *frames.shape[1:])
    out = np.zeros_like(clips)
    for b, clip in enumerate(clips):
        for t in range(num_frames):
            u = bias + sum(
                np.tensordot(_neighbour(clip, t + k - 1, padding), kernel[k], axes=1)
                for k in range(3)
            )
            s = 1.0 / (1.0 + np.exp(-u))
            v = clip[t] * s[..., None]
            out[b, t] = clip[t] - v
    return out.reshape(frames.shape)


def temporal_shift(frames, num_frames, shift_div=8):
    """TSM: 1/shift_div of the channels from frame t+1, 1/shift_div from t-1."""
    clips = frames.reshape(-1, num_frames, *frames.shape[1:])
    fold = frames.shape[-1] // shift_div
    out = np.zeros_like(clips)
    out[:, :-1, ..., :fold] = clips[:, 1:, ..., :fold]
    out[:, 1:, ..., fold : 2 * fold] = clips[:, :-1, ..., fold : 2 * fold]
    out[..., 2 * fold :] = clips[..., 2 * fold :]
    return out.reshape(frames.shape)
