"""The zoo: STW, TSM and TSN on ResNets, registered as `{family}_resnet{depth}`.

Each name is a model function of the registry (`keras_stw.create_model("stw_resnet50")`,
`keras_stw.list_models()`) with its facts (`keras_stw.model_info`); `STWResNet50` and its
siblings are the same functions under the names of keras-stw 0.1.0. All take
`video_resnet`'s keywords. A family is one `register_family` call.
"""

from keras_stw.models import backbones
from keras_stw.models.registry import register_model
from keras_stw.models.video_resnet import TEMPORAL_BLOCKS, VideoResNet, video_resnet

DEPTHS = tuple(backbones.STACKWISE_BLOCKS)  # 26, 50, 101, 152
# The keywords of a zoo model function with a default, and their defaults.
DEFAULT_CONFIG = {"num_frames": 8, "num_classes": 174, "image_shape": (224, 224, 3)}


def register_family(
    family: str,
    temporal_block: str | None,
    description: str,
    depths=DEPTHS,
    **block_options,
) -> list[str]:
    """Registers a model family: `{family}_resnet{depth}` for each depth, with its facts.

    Each model function builds a `VideoResNet` with `temporal_block` and
    `block_options`, and is registered with its family, depth, block and default config
    (`keras_stw.model_info`), so the converter, the benchmarks and `list_models(family=...)`
    know it with nothing else to edit.

    Args:
        family: str. The family's name, the prefix of its model names, e.g. `"tsm4"`.
        temporal_block: `"stw"`, `"tsm"` or `None` (TSN). The family's temporal block.
        description: str. What the family is, for the model functions' docstrings.
        depths: iterable of ints. The ResNet depths to register, among 26, 50, 101 and
            152. Defaults to all four.
        **block_options: the block's options the family fixes, e.g. `shift_div=4`.

    Returns:
        The registered names.

    Example:
    >>> keras_stw.register_family("tsm4", "tsm", "TSM shifting a quarter of the channels",
    ...     depths=(50,), shift_div=4)
    ['tsm4_resnet50']
    >>> keras_stw.create_model("tsm4_resnet50").block_options
    {'shift_div': 4}
    """
    if temporal_block not in TEMPORAL_BLOCKS:
        raise ValueError(
            f"`temporal_block` must be one of {TEMPORAL_BLOCKS}. "
            f"Received: temporal_block={temporal_block!r}"
        )
    depths = tuple(depths)
    if not depths or any(depth not in DEPTHS for depth in depths):
        raise ValueError(
            f"`depths` must be a non-empty subset of {DEPTHS}. Received: depths={depths!r}"
        )
    return list(_register_family(family, temporal_block, description, depths, block_options))


def _register_family(family, temporal_block, description, depths, block_options):
    """Registers the family's model functions; returns them by name."""
    functions = (
        _register(family, depth, temporal_block, description, block_options) for depth in depths
    )
    return {function.__name__: function for function in functions}


def _register(family, depth, temporal_block, description, block_options):
    """Registers and returns the model function `{family}_resnet{depth}`."""
    name = f"{family}_resnet{depth}"
    defaults = DEFAULT_CONFIG

    def create(
        num_frames=defaults["num_frames"],
        num_classes=defaults["num_classes"],
        weights=None,
        **kwargs,
    ) -> VideoResNet:
        kwargs = {**block_options, "name": name, **kwargs}
        return video_resnet(temporal_block, num_frames, num_classes, weights, depth=depth, **kwargs)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"""{family.upper()} ResNet-{depth}: {description}.

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
    register_model(
        create,
        family=family,
        depth=depth,
        temporal_block=temporal_block,
        block_options=block_options,
        default_config=defaults,
    )
    return create


_ZOO = {
    **_register_family(
        "stw",
        "stw",
        "an STW block (STFM + TWM, in parallel) starts every residual branch",
        DEPTHS,
        {},
    ),
    **_register_family(
        "tsm",
        "tsm",
        "a temporal shift (TSM, `shift_div=8`) starts every residual branch",
        DEPTHS,
        {},
    ),
    **_register_family(
        "tsn",
        None,
        "no temporal block: frames are classified alone, scores averaged (TSN)",
        DEPTHS,
        {},
    ),
}

# The factory names of keras-stw 0.1.0 (README), the same functions.
STWResNet50 = _ZOO["stw_resnet50"]
STWResNet101 = _ZOO["stw_resnet101"]
TSMResNet50 = _ZOO["tsm_resnet50"]
TSMResNet101 = _ZOO["tsm_resnet101"]
TSNResNet50 = _ZOO["tsn_resnet50"]
TSNResNet101 = _ZOO["tsn_resnet101"]
