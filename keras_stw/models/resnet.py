"""The zoo: STW, TSM and TSN on ResNets, registered as `{family}_resnet{depth}`.

Each name is a model function of the registry (`keras_stw.create_model("stw_resnet50")`,
`keras_stw.list_models()`); `STWResNet50` and its siblings are the same functions under
the names of keras-stw 0.1.0. All take `video_resnet`'s keywords.
"""

from keras_stw.models import backbones
from keras_stw.models.registry import register_model
from keras_stw.models.video_resnet import VideoResNet, video_resnet

# The zoo's families: the registry prefix, its `temporal_block` and what it is.
FAMILIES = {
    "stw": ("stw", "an STW block (STFM + TWM, in parallel) starts every residual branch"),
    "tsm": ("tsm", "a temporal shift (TSM, `shift_div=8`) starts every residual branch"),
    "tsn": (None, "no temporal block: frames are classified alone, scores averaged (TSN)"),
}
DEPTHS = tuple(backbones.STACKWISE_BLOCKS)  # 26, 50, 101, 152


def _register(family: str, depth: int):
    """Registers and returns the model function `{family}_resnet{depth}`."""
    temporal_block, summary = FAMILIES[family]
    name = f"{family}_resnet{depth}"

    def create(num_frames=8, num_classes=174, weights=None, **kwargs) -> VideoResNet:
        return video_resnet(temporal_block, num_frames, num_classes, weights, depth=depth, **kwargs)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"""{family.upper()} ResNet-{depth}: {summary}.

    Args:
        num_frames: int. Frames per clip. Defaults to `8`.
        num_classes: int. Number of classes. Defaults to `174` (Something-Something).
        weights: `None`, `"imagenet"` or the path of a backbone weights file.
            Defaults to `None`.
        **kwargs: the other keywords of `keras_stw.video_resnet`: `image_shape`,
            `stages`, `backbone`, `dropout`, `activation`, `dtype`, the block's options.

    Returns:
        A `keras_stw.VideoResNet` with `depth={depth}`.

    Example:
    >>> model = keras_stw.create_model("{name}", num_frames=8)
    >>> model.num_frames, model.depth
    (8, {depth})
    """
    return register_model(create)


stw_resnet26, stw_resnet50, stw_resnet101, stw_resnet152 = (_register("stw", d) for d in DEPTHS)
tsm_resnet26, tsm_resnet50, tsm_resnet101, tsm_resnet152 = (_register("tsm", d) for d in DEPTHS)
tsn_resnet26, tsn_resnet50, tsn_resnet101, tsn_resnet152 = (_register("tsn", d) for d in DEPTHS)

# The factory names of keras-stw 0.1.0 (README), the same functions.
STWResNet50 = stw_resnet50
STWResNet101 = stw_resnet101
TSMResNet50 = tsm_resnet50
TSMResNet101 = tsm_resnet101
TSNResNet50 = tsn_resnet50
TSNResNet101 = tsn_resnet101
