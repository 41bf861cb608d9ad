"""The model zoo: STW, TSM and TSN ResNet-50 / ResNet-101 factories.

All factories take the same keywords as `video_resnet` (`num_frames`, `num_classes`,
`weights`, `input_shape`, `stages`, `backbone`, `dropout`, `activation`, ...); the STW and
TSM ones also take their block's options.
"""

from keras_stw.models.video_resnet import video_resnet


def STWResNet50(num_frames=8, num_classes=174, weights=None, **kwargs):
    """STW ResNet-50: an STW block starts every bottleneck's residual branch.

    The paper's network: STFM + TWM in parallel in all 16 bottlenecks of stages 2-5.
    Options include `combination` (`"parallel"`, `"stfm_then_twm"`, `"twm_then_stfm"`,
    `"stfm"`, `"twm"`), `ratios`, `stages` and everything `video_resnet` takes.

    Example:
    >>> model = keras_stw.STWResNet50(num_frames=8)
    >>> model.input_shape, model.output_shape
    ((None, 8, 224, 224, 3), (None, 174))
    """
    return video_resnet(
        "stw", num_frames=num_frames, num_classes=num_classes, weights=weights, **kwargs
    )


def STWResNet101(num_frames=8, num_classes=174, weights=None, **kwargs):
    """STW ResNet-101: `STWResNet50`'s design on a 101-layer backbone (33 STW blocks).

    Example:
    >>> model = keras_stw.STWResNet101(num_frames=8, input_shape=(112, 112, 3))
    """
    return video_resnet(
        "stw",
        num_frames=num_frames,
        num_classes=num_classes,
        weights=weights,
        depth=101,
        **kwargs,
    )


def TSMResNet50(num_frames=8, num_classes=174, weights=None, **kwargs):
    """TSM ResNet-50: a temporal shift starts every bottleneck's residual branch.

    The paper's main peer (Lin et al.), with `shift_div=8` by default.

    Example:
    >>> model = keras_stw.TSMResNet50(num_frames=8)
    """
    return video_resnet(
        "tsm", num_frames=num_frames, num_classes=num_classes, weights=weights, **kwargs
    )


def TSMResNet101(num_frames=8, num_classes=174, weights=None, **kwargs):
    """TSM ResNet-101: `TSMResNet50`'s design on a 101-layer backbone.

    Example:
    >>> model = keras_stw.TSMResNet101(num_frames=8, input_shape=(112, 112, 3))
    """
    return video_resnet(
        "tsm",
        num_frames=num_frames,
        num_classes=num_classes,
        weights=weights,
        depth=101,
        **kwargs,
    )


def TSNResNet50(num_frames=8, num_classes=174, weights=None, **kwargs):
    """TSN ResNet-50: frames classified independently, scores averaged.

    The baseline without temporal modeling; it is invariant to frame order.

    Example:
    >>> model = keras_stw.TSNResNet50(num_frames=8)
    """
    return video_resnet(
        None, num_frames=num_frames, num_classes=num_classes, weights=weights, **kwargs
    )


def TSNResNet101(num_frames=8, num_classes=174, weights=None, **kwargs):
    """TSN ResNet-101: `TSNResNet50` on a 101-layer backbone.

    Example:
    >>> model = keras_stw.TSNResNet101(num_frames=8, input_shape=(112, 112, 3))
    """
    return video_resnet(
        None,
        num_frames=num_frames,
        num_classes=num_classes,
        weights=weights,
        depth=101,
        **kwargs,
    )
