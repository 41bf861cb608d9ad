"""A PyTorch ResNet checkpoint as a zoo model: `convert_checkpoint`, `load_checkpoint`."""

import collections
import dataclasses

import keras

from keras_stw import surgery
from keras_stw.convert import resnet_weights
from keras_stw.convert.checkpoint_files import CheckpointError, read_checkpoint
from keras_stw.convert.layouts import parse_state_dict
from keras_stw.layers import TemporalShift
from keras_stw.models import backbones
from keras_stw.models.registry import create_model, list_models, model_info
from keras_stw.models.video_resnet import VideoResNet, video_resnet

_LAYOUT_NAMES = {
    "torchvision": "torchvision",
    "tsm": "TSM repository",
    "mmaction2": "mmaction2",
}


@dataclasses.dataclass(frozen=True)
class ConversionReport:
    """What `convert_checkpoint` loaded from a checkpoint, and what it left out.

    Attributes:
        layout: str. The checkpoint's key layout: `"torchvision"`, `"tsm"` or
            `"mmaction2"`.
        depth: int. Its ResNet depth.
        shifted_blocks: int. Its residual blocks whose branch starts with TSM's shift.
        total_blocks: int. Its residual blocks.
        matched: dict from each loaded checkpoint key to the Keras variable's path.
        skipped: tuple of str. Checkpoint keys not loaded: the classifier, when the
            model gets a new one.
        ignored: tuple of str. Keys that hold no weight (`num_batches_tracked`).
        classes: int or `None`. The class count of the loaded classifier, `None` when
            the classifier is new.
        temporal_layers: dict from a temporal layer class to how many the model has.
        initialized: int. The temporal layers' variables, which keep their documented
            initialization (`STWBlock`'s); `0` for weightless ones (`TemporalShift`).
        num_classes: int. The model's class count.

    Example:
    >>> model, report = convert_checkpoint("resnet50-0676ba61.pth", "stw_resnet50", 174)
    >>> report.layout, report.classes, report.temporal_layers
    ('torchvision', None, {'STWBlock': 16})
    """

    layout: str
    depth: int
    shifted_blocks: int
    total_blocks: int
    matched: dict
    skipped: tuple
    ignored: tuple
    classes: int | None
    temporal_layers: dict
    initialized: int
    num_classes: int

    def lines(self) -> list[str]:
        """The report as a few lines of text, as `python -m keras_stw convert` prints it.

        Returns:
            list of str.

        Example:
        >>> print("\\n".join(report.lines()))
        """
        shift = (
            f"TSM shift in {self.shifted_blocks} of {self.total_blocks} blocks"
            if self.shifted_blocks
            else "no temporal shift"
        )
        paths = list(self.matched.values())
        kernels = sum(p.endswith("/kernel") and "frame_scores" not in p for p in paths)
        norms = sum(p.endswith("/gamma") for p in paths)
        classifier = f", classifier of {self.classes} classes" if self.classes else ""
        lines = [
            f"checkpoint: {_LAYOUT_NAMES[self.layout]} layout, ResNet-{self.depth}, {shift}",
            f"matched: {len(self.matched)} tensors: {kernels} convolutions, {norms} "
            f"BatchNorms{classifier}",
        ]
        new = [] if self.classes else [f"classifier of {self.num_classes} classes"]
        if self.temporal_layers:
            layers = ", ".join(f"{n} {name}" for name, n in self.temporal_layers.items())
            state = "initial values" if self.initialized else "no weights"
            new.append(f"{layers} ({state})")
        if new:
            lines.append(f"not from the checkpoint: {'; '.join(new)}")
        if self.skipped:
            lines.append(f"not loaded: {', '.join(self.skipped)}")
        if self.ignored:
            lines.append(f"ignored: {len(self.ignored)} num_batches_tracked (no weights)")
        return lines


def convert_checkpoint(
    checkpoint,
    model: str = "tsm_resnet50",
    num_classes: int | None = None,
    backbone_only: bool = False,
    **kwargs,
) -> tuple[VideoResNet, ConversionReport]:
    """Builds the zoo model `model` with the weights of a PyTorch ResNet checkpoint.

    Reads torchvision's `resnet50` / `resnet101` ImageNet state dicts, TSM's official
    checkpoints and mmaction2's TSM (and TSN) checkpoints (see `parse_state_dict`) into
    the model built on KerasHub's ResNet v1.5, whose padding, BatchNorm epsilon (1e-5)
    and input normalization (torchvision's mean and std on RGB in [0, 1]) are those of
    PyTorch.

    The checkpoint's classifier is loaded when the model has the checkpoint's temporal
    modeling: a TSM checkpoint into `tsm_resnet*` (with the shift where the checkpoint
    has it: every block of ResNet-50, every other block of ResNet-101), a TSN or
    torchvision checkpoint into `tsn_resnet*` (TSN is the image model on each frame,
    logits averaged). Otherwise, or with `backbone_only=True`, only the ResNet is
    loaded: `stw_resnet*`'s STW blocks keep their documented initialization, and the
    model gets a new classifier of `num_classes`.

    Args:
        checkpoint: str, `os.PathLike` or dict. A `.pth`, `.safetensors` or `.npz`
            file (see `read_checkpoint`), or a state dict of arrays.
        model: str. A registered zoo name with a family and depth (`model_info`), e.g.
            `{stw,tsm,tsn}_resnet{26,50,101,152}` or one of a family added with
            `keras_stw.register_family`; its depth must be the checkpoint's.
            Defaults to `"tsm_resnet50"`.
        num_classes: int or `None`. With the checkpoint's classifier: `None` or its
            class count. With a new one: required. Defaults to `None`.
        backbone_only: bool. Load the ResNet only, for fine-tuning on other classes.
            Defaults to `False`.
        **kwargs: other keywords of `keras_stw.video_resnet`: `num_frames`,
            `image_shape`, `activation`, `dropout`, `dtype`, `shift_div`, ...
            The backbone is always `"keras_hub"`.

    Returns:
        `(model, report)`: a `keras_stw.VideoResNet` and a `ConversionReport`.

    Raises:
        CheckpointError: the file cannot be read, or does not fit the model: unmatched
            or missing keys, another shape, another depth, another class count.

    Example:
    >>> model, report = convert_checkpoint("tsm_k400.pth", "tsm_resnet50", 400)
    >>> model.save("tsm_k400.keras")
    """
    info = _zoo_model_info(model)
    if kwargs.get("backbone", "keras_hub") != "keras_hub" or "weights" in kwargs:
        raise ValueError(
            "A converted model is built on backbone='keras_hub' (ResNet v1.5, as PyTorch's) "
            "and takes its weights from the checkpoint. Received: "
            + ", ".join(f"{k}={kwargs[k]!r}" for k in ("backbone", "weights") if k in kwargs)
        )
    state = _parse(checkpoint)
    _check_depth(state, info.depth, model)
    checkpoint_block = "tsm" if state.shifted_blocks else None
    full = (
        not backbone_only
        and info.temporal_block == checkpoint_block
        and state.classifier is not None
    )
    num_classes = _num_classes(state, model, num_classes, full, backbone_only)
    network = _build(info, state if full else None, num_classes, kwargs)
    return network, _load(network, state, backbone_only)


def load_checkpoint(model: VideoResNet, checkpoint, backbone_only: bool = False):
    """Loads a PyTorch ResNet checkpoint into a `VideoResNet` on KerasHub's ResNet.

    The checkpoint's classifier is loaded when the model's temporal layers are the
    checkpoint's: `TemporalShift` layers (with the checkpoint's `shift_div`, 8 in every
    published one) in the residual blocks that it shifts, or none for a TSN or
    torchvision checkpoint; its class count must then be the model's. Otherwise, or
    with `backbone_only=True`, the ResNet alone is loaded.

    Args:
        model: a `keras_stw.VideoResNet` with `backbone="keras_hub"` and the
            checkpoint's depth.
        checkpoint: str, `os.PathLike` or dict: a checkpoint file or a state dict.
        backbone_only: bool. Leave the model's classifier as it is. Defaults to `False`.

    Returns:
        A `ConversionReport`.

    Raises:
        CheckpointError: the checkpoint cannot be read or does not fit the model; the
            model is then left as it was.

    Example:
    >>> model = keras_stw.create_model("tsm_resnet50", num_classes=400,
    ...     backbone="keras_hub")
    >>> report = load_checkpoint(model, "tsm_k400.pth")
    """
    if getattr(model, "backbone", None) != "keras_hub":
        raise ValueError(
            "load_checkpoint needs a VideoResNet with backbone='keras_hub' (ResNet v1.5, as "
            f"PyTorch's). Received: a {type(model).__name__} with "
            f"backbone={getattr(model, 'backbone', None)!r}"
        )
    state = _parse(checkpoint)
    _check_depth(state, model.depth, model.name)
    return _load(model, state, backbone_only)


def _parse(checkpoint):
    if not isinstance(checkpoint, dict):
        checkpoint = read_checkpoint(checkpoint)
    return parse_state_dict(checkpoint)


def _check_depth(state, depth, model_name):
    if state.depth != depth:
        raise CheckpointError(
            f"The checkpoint is a ResNet-{state.depth} (blocks {state.blocks}); {model_name} "
            f"is a ResNet-{depth}."
        )


def _load(model, state, backbone_only):
    """Loads `state` into `model`; the classifier too if their temporal layers agree."""
    # A residual branch that starts with anything but the ResNet's own convolution
    # starts with a temporal layer, wherever the graph rewrite put it.
    temporal = {
        (block.stage, block.index): block.branch_entry
        for block in surgery.find_residual_blocks(model.get_layer("backbone"))
        if not isinstance(block.branch_entry, keras.layers.Conv2D)
    }
    shifted = {at for at, layer in temporal.items() if isinstance(layer, TemporalShift)}
    temporal = list(temporal.values())
    full = (
        not backbone_only
        and state.classifier is not None
        and all(isinstance(layer, TemporalShift) for layer in temporal)
        and shifted == state.shifted_blocks
    )
    if full and state.classifier["weight"].shape[0] != model.num_classes:
        raise CheckpointError(
            f"The checkpoint's classifier has {state.classifier['weight'].shape[0]} classes; "
            f"'{model.name}' has {model.num_classes}. To train a new classifier on its "
            "ResNet, pass backbone_only=True (--backbone-only)."
        )
    pairs = resnet_weights.assignments(model, state, classifier=full)
    for _, variable, value in pairs:
        variable.assign(value)
    return ConversionReport(
        layout=state.layout,
        depth=state.depth,
        shifted_blocks=len(state.shifted_blocks),
        total_blocks=sum(state.blocks),
        matched={key: variable.path for key, variable, _ in pairs},
        skipped=() if full or state.classifier is None else _classifier_keys(state),
        ignored=state.ignored,
        classes=model.num_classes if full else None,
        temporal_layers=dict(collections.Counter(type(layer).__name__ for layer in temporal)),
        initialized=sum(len(layer.weights) for layer in temporal),
        num_classes=model.num_classes,
    )


def _zoo_model_info(model):
    """The registry's facts on `model`, which must be a zoo ResNet of a known family."""
    zoo = [name for name in list_models() if model_info(name).depth in backbones.STACKWISE_BLOCKS]
    if model not in zoo:
        raise ValueError(
            f"`model` must be a zoo ResNet, a registered name with a family and a depth: "
            f"one of {zoo}. Received: model={model!r}"
        )
    return model_info(model)


def _num_classes(state, model, num_classes, full, backbone_only):
    if full:
        classes = state.classifier["weight"].shape[0]
        if num_classes not in (None, classes):
            raise CheckpointError(
                f"The checkpoint's classifier has {classes} classes. Received: "
                f"num_classes={num_classes}. To train a new classifier on its ResNet, pass "
                "backbone_only=True (--backbone-only)."
            )
        return classes
    if num_classes is None:
        why = (
            "backbone_only=True"
            if backbone_only
            else f"the checkpoint has no classifier for {model}'s temporal modeling"
        )
        raise ValueError(
            f"`num_classes` is needed: {model} gets a new classifier ({why}). "
            "Received: num_classes=None"
        )
    return num_classes


def _build(info, state, num_classes, kwargs):
    """The zoo model; a TSM one shifts where the loaded `state` does, if not everywhere."""
    kwargs = {**kwargs, "backbone": "keras_hub", "num_classes": num_classes}
    every_block = {
        (stage, index)
        for stage, blocks in zip((2, 3, 4, 5), backbones.STACKWISE_BLOCKS[info.depth], strict=True)
        for index in range(1, blocks + 1)
    }
    if info.temporal_block != "tsm" or state is None or state.shifted_blocks == every_block:
        return create_model(info.name, **kwargs)
    num_frames = kwargs.pop("num_frames", info.default_config.get("num_frames", 8))
    options = {**info.block_options}
    options.update({k: kwargs.pop(k) for k in ("shift_div", "padding") if k in kwargs})
    shifted_names = {surgery.temporal_layer_name(*block) for block in state.shifted_blocks}

    def shift_where_the_checkpoint_does(name):
        if name not in shifted_names:
            return None
        return TemporalShift(num_frames, name=name, **options)

    return video_resnet(
        shift_where_the_checkpoint_does, num_frames, depth=info.depth, name=info.name, **kwargs
    )


def _classifier_keys(state):
    return tuple(state.classifier_key + p for p in ("weight", "bias"))
