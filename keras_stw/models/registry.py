"""The model registry: a name -> model function table, as timm's `register_model`."""

import difflib
import fnmatch
import re
import warnings
from collections.abc import Callable

_MODEL_FUNCTIONS: dict[str, Callable] = {}


def register_model(fn: Callable | None = None, *, name: str | None = None):
    """Adds a model function to the registry, under its own name or `name`.

    Use it as a decorator. The function takes keyword arguments and returns a model;
    once its module is imported, `create_model(name, **kwargs)` calls it and
    `list_models()` lists it. Registering a name again replaces the earlier function,
    with a warning.

    Args:
        fn: callable. The model function. Left out when the decorator is called with
            arguments, as in `@register_model(name="...")`.
        name: str. The registered name. Defaults to `fn.__name__`.

    Returns:
        `fn` itself (or, called with `name` only, the decorator).

    Example:
    >>> @keras_stw.register_model
    ... def stw_resnet50_k3(**kwargs):
    ...     return keras_stw.video_resnet("stw", kernel_size=3, **kwargs)
    >>> keras_stw.list_models("stw_resnet50*")
    ['stw_resnet50', 'stw_resnet50_k3']
    """
    if fn is None:
        return lambda fn: register_model(fn, name=name)
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
    return fn


def create_model(name: str, **kwargs):
    """Builds the registered model `name`, passing it `kwargs`.

    Args:
        name: str. A name from `list_models()`, e.g. `"stw_resnet50"`.
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
    fn = _MODEL_FUNCTIONS.get(name)
    if fn is None:
        close = _close_names(str(name))
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown model name.{hint} Available: {list_models()}. Received: name={name!r}"
        )
    return fn(**kwargs)


def list_models(pattern: str | None = None) -> list[str]:
    """The registered model names, in natural order; those matching `pattern` if given.

    Args:
        pattern: str or `None`. A shell-style pattern (`fnmatch`), e.g. `"stw_*"` or
            `"*_resnet101"`. Defaults to `None`, every name.

    Returns:
        A list of names, sorted with numbers by value (`stw_resnet50` before
        `stw_resnet101`).

    Example:
    >>> keras_stw.list_models("*_resnet50")
    ['stw_resnet50', 'tsm_resnet50', 'tsn_resnet50']
    """
    names = sorted(_MODEL_FUNCTIONS, key=_natural_key)
    if pattern is None:
        return names
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


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
    return re.sub(r"[\W_]", "", name.lower())
