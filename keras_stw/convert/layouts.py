"""The key layouts of PyTorch ResNet checkpoints: torchvision's, TSM's and mmaction2's."""

import dataclasses
import re

import numpy as np

from keras_stw.convert.checkpoint_files import CheckpointError
from keras_stw.models.backbones import STACKWISE_BLOCKS

LAYOUTS = ("torchvision", "tsm", "mmaction2")
# A backbone weight in torchvision's names (torchvision/models/resnet.py), the names every
# layout is rewritten to.
_PARAMETER = r"(weight|bias|running_mean|running_var)"
_TORCHVISION_KEY = re.compile(
    rf"conv1\.weight|bn1\.{_PARAMETER}|layer[1-4]\.\d+\."
    rf"(conv[123]\.weight|bn[123]\.{_PARAMETER}|downsample\.0\.weight|downsample\.1\.{_PARAMETER})"
)
# Per layout: the prefix of its backbone keys, the prefixes of its classifier (`.weight`,
# `.bias`), and its rewrites of a backbone key into torchvision's name, each with whether
# it marks the block's branch as starting with TSM's shift (`TemporalShift.net`).
_LAYOUT_RULES = {
    "torchvision": ("", ("fc.",), ()),
    "tsm": (
        "base_model.",
        ("new_fc.", "base_model.fc."),
        ((r"(layer\d\.\d+\.conv1)\.net\.weight", r"\1.weight", True),),
    ),
    "mmaction2": (
        "backbone.",
        ("cls_head.fc_cls.",),
        (
            (r"conv1\.conv\.weight", "conv1.weight", False),
            (r"conv1\.bn\.(\w+)", r"bn1.\1", False),
            (r"(layer\d\.\d+)\.conv1\.conv\.net\.weight", r"\1.conv1.weight", True),
            (r"(layer\d\.\d+)\.conv(\d)\.conv\.weight", r"\1.conv\2.weight", False),
            (r"(layer\d\.\d+)\.conv(\d)\.bn\.(\w+)", r"\1.bn\2.\3", False),
            (r"(layer\d\.\d+)\.downsample\.conv\.weight", r"\1.downsample.0.weight", False),
            (r"(layer\d\.\d+)\.downsample\.bn\.(\w+)", r"\1.downsample.1.\2", False),
        ),
    ),
}
_DEPTHS = {blocks: depth for depth, blocks in STACKWISE_BLOCKS.items()}


@dataclasses.dataclass(frozen=True)
class ResNetState:
    """A ResNet checkpoint's weights under torchvision's names, whatever its layout.

    Attributes:
        layout: str. `"torchvision"`, `"tsm"` (TSM's repository) or `"mmaction2"`.
        backbone: dict from a torchvision name (`layer1.0.conv1.weight`) to its array.
        keys: dict from each torchvision name in `backbone` to the checkpoint's own key
            (with its `module.` prefix, if any).
        classifier: dict with the classifier's `weight` `(K, C)` and `bias` `(K,)`,
            or `None` when the checkpoint has none.
        classifier_key: str. The checkpoint's key prefix of the classifier (`fc.`,
            `module.new_fc.`, ...), or `""`.
        shifted_blocks: frozenset of `(stage, index)`: the residual blocks whose branch
            starts with TSM's shift, numbered as `keras_stw.ResidualBlock` (stages 2 to
            5, blocks from 1).
        ignored: tuple of str. Keys that hold no weight: BatchNorm's
            `num_batches_tracked` step counters.

    Example:
    >>> state = parse_state_dict(read_checkpoint("resnet50-0676ba61.pth"))
    >>> state.layout, state.blocks, state.keys["bn1.weight"]
    ('torchvision', (3, 4, 6, 3), 'bn1.weight')
    """

    layout: str
    backbone: dict
    keys: dict
    classifier: dict | None
    classifier_key: str
    shifted_blocks: frozenset
    ignored: tuple

    @property
    def blocks(self) -> tuple:
        """Residual blocks per stage, e.g. `(3, 4, 6, 3)` for ResNet-50."""
        return tuple(
            len({name.split(".")[1] for name in self.backbone if name.startswith(f"layer{n}.")})
            for n in (1, 2, 3, 4)
        )

    @property
    def depth(self) -> int:
        """The ResNet depth of `blocks`: 26, 50, 101 or 152."""
        return _DEPTHS[self.blocks]


def parse_state_dict(state: dict) -> ResNetState:
    """Reads a ResNet state dict in torchvision's, TSM's or mmaction2's layout.

    `module.` prefixes (`nn.DataParallel`) are dropped. The layout is told by the keys:
    `base_model.` is TSM's repository (the shift wraps `conv1` as `conv1.net`, the
    classifier is `new_fc`), `backbone.` is mmaction2's (`ConvModule`s with `conv` and
    `bn`, the shift wraps `conv1.conv`, the classifier is `cls_head.fc_cls`), anything
    else torchvision's (`fc` is its ImageNet classifier).

    Args:
        state: dict from the checkpoint's keys to arrays, as `read_checkpoint` gives.

    Returns:
        A `ResNetState`.

    Raises:
        CheckpointError: a key matches no weight of a bottleneck ResNet in the layout,
            or the blocks per stage are not those of ResNet-26, -50, -101 or -152.

    Example:
    >>> state = parse_state_dict(read_checkpoint("tsm_k400.pth"))
    >>> state.layout, state.depth, len(state.shifted_blocks)
    ('tsm', 50, 16)
    """
    original = {key.removeprefix("module."): key for key in state}
    state = {key: np.asarray(state[original[key]]) for key in original}
    layout = next(
        (name for name in ("tsm", "mmaction2") if _has_prefix(state, _LAYOUT_RULES[name][0])),
        "torchvision",
    )
    prefix, classifier_prefixes, rewrites = _LAYOUT_RULES[layout]
    classifier_key = next((p for p in classifier_prefixes if _has_prefix(state, p)), "")
    backbone, keys, shifted, ignored, unmatched = {}, {}, set(), [], []
    for key, value in state.items():
        if key.endswith(".num_batches_tracked"):
            ignored.append(original[key])
        elif classifier_key and key.startswith(classifier_key):
            if key.removeprefix(classifier_key) not in ("weight", "bias"):
                unmatched.append(original[key])
        elif key.startswith(prefix):
            name, shift = _torchvision_name(key.removeprefix(prefix), rewrites)
            if name is None:
                unmatched.append(original[key])
                continue
            backbone[name], keys[name] = value, original[key]
            if shift:
                stage, index = name.split(".")[:2]
                shifted.add((int(stage.removeprefix("layer")) + 1, int(index) + 1))
        else:
            unmatched.append(original[key])
    if unmatched:
        raise CheckpointError(
            f"{len(unmatched)} keys of this {layout}-layout checkpoint match no weight of a "
            f"bottleneck ResNet, e.g. {', '.join(unmatched[:3])}"
        )
    classifier = None
    if classifier_key:
        classifier = {p: state.get(classifier_key + p) for p in ("weight", "bias")}
        classifier_key = original.get(classifier_key + "weight", classifier_key)[: -len("weight")]
    result = ResNetState(
        layout, backbone, keys, classifier, classifier_key, frozenset(shifted), tuple(ignored)
    )
    _check_architecture(result)
    return result


def _has_prefix(state, prefix):
    return any(key.startswith(prefix) for key in state)


def _torchvision_name(key, rewrites):
    """(torchvision name of a backbone key, whether it is a shifted conv), or (None, _)."""
    shift = False
    for pattern, replacement, marks_shift in rewrites:
        if re.fullmatch(pattern, key):
            key, shift = re.sub(pattern, replacement, key), marks_shift
            break
    return (key, shift) if _TORCHVISION_KEY.fullmatch(key) else (None, False)


def _check_architecture(state):
    if not state.backbone:
        raise CheckpointError(f"No ResNet weights found in this {state.layout}-layout checkpoint.")
    if not any(name.endswith(".conv3.weight") for name in state.backbone):
        raise CheckpointError(
            "The checkpoint is a ResNet of basic blocks (ResNet-18 / -34, no conv3); the "
            "zoo's ResNets have bottleneck blocks."
        )
    if state.blocks not in _DEPTHS:
        known = ", ".join(f"ResNet-{d} {b}" for b, d in _DEPTHS.items())
        raise CheckpointError(
            f"The checkpoint has {state.blocks} residual blocks per stage; the zoo has {known}."
        )
    if state.classifier is not None and any(v is None for v in state.classifier.values()):
        raise CheckpointError(
            f"The checkpoint's classifier {state.classifier_key.rstrip('.')} lacks its "
            "weight or bias."
        )
