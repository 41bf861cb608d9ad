"""The model registry: a name -> model function table with each model's facts, as timm's.

timm keeps what a model is as data beside its function (`default_cfg`); so does this
registry, in a `ModelInfo`: its family, depth, temporal block and default config. The
converter, the benchmarks and the examples ask it (`model_info`, `list_models(family=...)`)
instead of reading a model's name.
"""

import dataclasses
import difflib
import fnmatch
import itertools
import warnings
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a registered model is, as the registry records it.

    Attributes:
        name: str. The registered name.
        family: str or `None`. Its family (`"stw"`, `"tsm"`, `"tsn"`, or one added with
            `keras_stw.register_family`); `None` for a model registered without one.
        depth: int or `None`. Its ResNet depth.
        temporal_block: `"stw"`, `"tsm"` or `None`: the `temporal_block` of the
            `VideoResNet` it builds (`None` is TSN, no temporal block).
        block_options: dict. The block options its function passes (`shift_div`, ...).
        default_config: dict. The defaults of its function's other keywords
            (`num_frames`, `num_classes`, `image_shape`).

    Example:
    >>> info = keras_stw.model_info("tsm_resnet50")
    >>> info.family, info.depth, info.temporal_block
    ('tsm', 50, 'tsm')
    """

    name: str
    family: str | None = None
    depth: int | None = None
    temporal_block: str | None = None
    block_options: dict = dataclasses.field(default_factory=dict)
    default_config: dict = dataclasses.field(default_factory=dict)


_MODEL_FUNCTIONS: dict[str, Callable] = {}
_MODEL_INFO: dict[str, ModelInfo] = {}


def register_model(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    family: str | None = None,
    depth: int | None = None,
    temporal_block: str | None = None,
    block_options: dict | None = None,
    default_config: dict | None = None,
):
    """Adds a model function to the registry, under its own name or `name`.

    Use it as a decorator. The function takes keyword arguments and returns a model;
    once its module is imported, `create_model(name, **kwargs)` calls it and
    `list_models()` lists it. Registering a name again replaces the earlier function,
    with a warning. The other keywords are the model's facts (`model_info(name)`); a
    zoo family registers them all at once with `keras_stw.register_family`.

    Args:
        fn: callable. The model function. Left out when the decorator is called with
            arguments, as in `@register_model(name="...")`.
        name: str. The registered name. Defaults to `fn.__name__`.
        family: str or `None`. The model's family. Defaults to `None`.
        depth: int or `None`. Its ResNet depth. Defaults to `None`.
        temporal_block: `"stw"`, `"tsm"` or `None`. Its temporal block. Defaults to
            `None`.
        block_options: dict or `None`. The block options its function passes.
            Defaults to `None` (none).
        default_config: dict or `None`. Its function's defaults (`num_frames`, ...).
            Defaults to `None` (none recorded).

    Returns:
        `fn` itself (or, called without `fn`, the decorator).

    Example:
    >>> @keras_stw.register_model
    ... def stw_resnet50_k3(**kwargs):
    ...     return keras_stw.video_resnet("stw", kernel_size=3, **kwargs)
    >>> keras_stw.list_models("stw_resnet50*")
    ['stw_resnet50', 'stw_resnet50_k3']
    """
    facts = {
        "family": family,
        "depth": depth,
        "temporal_block": temporal_block,
        "block_options": dict(block_options or {}),
        "default_config": dict(default_config or {}),
    }
    if fn is None:
        return lambda fn: register_model(fn, name=name, **facts)
    if not callable(fn):
        raise ValueError(f"`fn` must be a callable that returns a model. Received: fn={fn!r}")
    name = fn.__name__ if name is None else name
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise ValueError(f"A registered model needs a name: pass `name=`. Received: name={name!r}")
    previous = _MODEL_FUNCTIONS.get(name)
    if previous is not None and previous is not fn:
        warnings.warn(
            f"Model '{name}' was registered by {previous.__module__}; {fn.__module__} replaces it.",
            stacklevel=2,
        )
    _MODEL_FUNCTIONS[name] = fn
    _MODEL_INFO[name] = ModelInfo(name, **facts)
    return fn


def create_model(name: str, pretrained: bool = False, **kwargs):
    """Builds the registered model `name`, passing it `kwargs`.

    As in timm, `name` may carry a weight tag, `"{model}.{tag}"`
    (`keras_stw.list_pretrained()`); with `pretrained=True` the model gets those
    weights (the model's first tag when `name` has none), downloaded, checked and
    converted once (see `keras_stw.convert.load_pretrained`).

    Args:
        name: str. A name from `list_models()`, e.g. `"stw_resnet50"`, or a tag from
            `list_pretrained()`, e.g. `"tsm_resnet50.k400_mmaction2"`.
        pretrained: bool. Load the tag's published weights. Defaults to `False`.
        **kwargs: the model function's arguments; for the zoo, those of
            `keras_stw.video_resnet` (`num_frames`, `num_classes`, `weights`,
            `image_shape`, `backbone`, block options, ...).

    Returns:
        The model, for the zoo a `keras_stw.VideoResNet`.

    Example:
    >>> model = keras_stw.create_model("tsm_resnet50", num_frames=16, num_classes=400)
    >>> model.num_frames, model.output_shape
    (16, (None, 400))
    """
    if pretrained:
        # The converter builds on this module, so it is imported on use.
        from keras_stw.convert import pretrained as weight_tags

        return weight_tags.load_pretrained(name, **kwargs)
    name = name.partition(".")[0]  # A tag without `pretrained=True` is its model.
    _check_registered(name)
    return _MODEL_FUNCTIONS[name](**kwargs)


def model_info(name: str) -> ModelInfo:
    """What the registered model `name` is: its family, depth, temporal block, defaults.

    Args:
        name: str. A name from `list_models()`.

    Returns:
        A `keras_stw.ModelInfo`.

    Example:
    >>> keras_stw.model_info("stw_resnet101").depth
    101
    """
    _check_registered(name)
    return _MODEL_INFO[name]


def _check_registered(name):
    if name not in _MODEL_FUNCTIONS:
        close = _close_names(str(name))
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown model name.{hint} Available: {list_models()}. Received: name={name!r}"
        )


def list_models(
    pattern: str | None = None, *, family: str | None = None, depth: int | None = None
) -> list[str]:
    """The registered model names, in natural order; those that match, if asked.

    Args:
        pattern: str or `None`. A shell-style pattern (`fnmatch`), e.g. `"stw_*"` or
            `"*_resnet101"`. Defaults to `None`, every name.
        family: str or `None`. Only the models of this family (`model_info(name).family`).
            Defaults to `None`, any.
        depth: int or `None`. Only the models of this ResNet depth. Defaults to `None`,
            any.

    Returns:
        A list of names, sorted with numbers by value (`stw_resnet50` before
        `stw_resnet101`).

    Example:
    >>> keras_stw.list_models("*_resnet50")
    ['stw_resnet50', 'tsm_resnet50', 'tsn_resnet50']
    >>> keras_stw.list_models(family="tsm", depth=50)
    ['tsm_resnet50']
    """
    return [
        name
        for name in sorted(_MODEL_FUNCTIONS, key=natural_key)
        if (pattern is None or fnmatch.fnmatchcase(name, pattern))
        and (family is None or _MODEL_INFO[name].family == family)
        and (depth is None or _MODEL_INFO[name].depth == depth)
    ]


def natural_key(name):
    """Sorts runs of digits by value, so `stw_resnet50` comes before `stw_resnet101`."""
    runs = ((digits, "".join(run)) for digits, run in itertools.groupby(name, str.isdigit))
    return [(digits, int(run) if digits else run) for digits, run in runs]


def _close_names(name):
    """Registered names close to `name`, compared without case, `_`, `-` or spaces.

    So the class-style `"STWResNet50"` and `"stw-resnet50"` find `"stw_resnet50"`.
    """
    by_key = {_name_key(known): known for known in _MODEL_FUNCTIONS}
    key = _name_key(name)
    if key in by_key:
        return [by_key[key]]
    return [by_key[close] for close in difflib.get_close_matches(key, by_key, n=3)]


def _name_key(name):
    return "".join(character for character in name.lower() if character.isalnum())
