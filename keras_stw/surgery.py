"""Functional-graph surgery: temporal blocks at the start of every residual branch."""

import dataclasses
from collections.abc import Callable, Iterable

import keras

from keras_stw import graph

DEFAULT_STAGES = (2, 3, 4, 5)


@dataclasses.dataclass(frozen=True)
class ResidualBlock:
    """One residual block of a functional ResNet, as found in its graph.

    Attributes:
        stage: int. The ResNet stage, counted as the paper does: 2 for `conv2_x` up to
            5 for `conv5_x`.
        index: int. The block's position in its stage, from 1.
        add_layer: the `Add` layer that joins shortcut and residual branch.
        branch_entry: the first layer of the residual branch (its first convolution).
        projection: bool. Whether the shortcut has a layer of its own (a 1x1 conv),
            rather than being the identity.

    Example:
    >>> backbone = keras.applications.ResNet50(weights=None, include_top=False)
    >>> first = keras_stw.find_residual_blocks(backbone)[0]
    >>> first.name, first.branch_entry.name, first.projection
    ('stage2_block1', 'conv2_block1_1_conv', True)
    """

    stage: int
    index: int
    add_layer: keras.layers.Layer
    branch_entry: keras.layers.Layer
    projection: bool

    @property
    def name(self):
        return f"stage{self.stage}_block{self.index}"

    @property
    def temporal_layer_name(self):
        """The name of the temporal layer `insert_temporal_blocks` puts in this block."""
        return temporal_layer_name(self.stage, self.index)


def temporal_layer_name(stage: int, index: int) -> str:
    """The name `insert_temporal_blocks` gives the temporal layer of a residual block.

    Args:
        stage: int. The block's stage, 2 to 5.
        index: int. The block's position in its stage, from 1.

    Returns:
        str, e.g. `"stage2_block1_temporal"`: what the block factory is called with.

    Example:
    >>> keras_stw.surgery.temporal_layer_name(3, 2)
    'stage3_block2_temporal'
    """
    return f"stage{stage}_block{index}_temporal"


def find_residual_blocks(model: keras.Model) -> list[ResidualBlock]:
    """Finds the residual blocks of a functional ResNet from its graph.

    Each `Add` layer with two inputs is a candidate. Its block input is the nearest
    tensor that both inputs descend from; the input with the longer path to it is the
    residual branch, the other the shortcut. The layer of the branch that consumes the
    block input is the branch's entry. A block whose shortcut has layers of its own (a
    projection) starts a new stage. Layer names are never consulted.

    Args:
        model: a functional `keras.Model`, e.g. `keras_cv.models.ResNetBackbone` or
            `keras.applications.ResNet50`.

    Returns:
        The blocks in graph order.

    Example:
    >>> backbone = keras.applications.ResNet50(weights=None, include_top=False)
    >>> [b.name for b in keras_stw.find_residual_blocks(backbone)][:2]
    ['stage2_block1', 'stage2_block2']
    """
    graph.check_functional(model)
    blocks = []
    stage, index = 1, 0
    for layer in model.operations:
        if not isinstance(layer, keras.layers.Add):
            continue
        node = graph.layer_node(layer, model)
        if len(node.input_tensors) != 2:
            raise ValueError(
                f"Cannot rewrite model '{model.name}': Add layer '{layer.name}' joins "
                f"{len(node.input_tensors)} tensors; a residual block joins 2."
            )
        entry, projection = _trace_branch(*node.input_tensors, layer, model)
        if projection or stage == 1:
            stage, index = stage + 1, 0
        index += 1
        blocks.append(ResidualBlock(stage, index, layer, entry, projection))
    if not blocks:
        raise ValueError(
            f"Found no residual blocks in model '{model.name}': it has no Add layer "
            "joining a shortcut and a residual branch. insert_temporal_blocks supports "
            "ResNet-style functional models such as keras_cv.models.ResNetBackbone (v1) "
            "and keras.applications.ResNet50."
        )
    return blocks


def insert_temporal_blocks(
    model: keras.Model,
    block_factory: Callable[[str], keras.layers.Layer],
    stages: Iterable[int] = DEFAULT_STAGES,
) -> keras.Model:
    """Returns `model` with a temporal block starting each chosen residual branch.

    The rewrite follows TSM's "residual shift" placement, which STW adopts: in every
    residual block of the chosen stages the new layer sits between the block input and
    the branch's first convolution; the shortcut is untouched. The returned functional
    model reuses every original layer, so a pretrained backbone stays pretrained (its
    weights are shared, not copied).

    Args:
        model: a functional ResNet taking frames `(batch * num_frames, H, W, C)`,
            e.g. `keras_cv.models.ResNetBackbone` (v1) or `keras.applications.ResNet50`.
        block_factory: callable taking a layer name (such as `"stage2_block1_temporal"`)
            and returning a fresh layer that keeps its input's shape, e.g.
            `lambda name: keras_stw.layers.STWBlock(8, name=name)`, or `None` to leave
            that block's branch as it is (as TSM does in every other block of
            ResNet-101).
        stages: iterable of ints. The stages to rewrite, 2 (`conv2_x`) to 5
            (`conv5_x`). Defaults to all four.

    Returns:
        A new functional `keras.Model` with the same inputs and outputs.

    Example:
    >>> backbone = keras.applications.ResNet50(weights=None, include_top=False)
    >>> stw = keras_stw.insert_temporal_blocks(
    ...     backbone, lambda name: keras_stw.layers.STWBlock(8, name=name))
    >>> sum(isinstance(l, keras_stw.layers.STWBlock) for l in stw.layers)
    16
    """
    blocks = find_residual_blocks(model)
    stages = _validate_stages(stages, {block.stage for block in blocks})
    entries = {id(b.branch_entry): b for b in blocks if b.stage in stages}

    def call_function(layer, *args, **kwargs):
        block = entries.get(id(layer))
        temporal = None if block is None else block_factory(block.temporal_layer_name)
        if temporal is not None:
            args = (temporal(args[0]), *args[1:])
        return layer(*args, **kwargs)

    inputs = keras.tree.map_structure(
        lambda t: keras.Input(
            batch_shape=t.shape, dtype=t.dtype, name=t._keras_history.operation.name
        ),
        model.input,
    )
    return keras.models.clone_model(
        model,
        input_tensors=inputs,
        clone_function=lambda layer: layer,
        call_function=call_function,
    )


def _distances(tensor):
    """Maps `id` of every ancestor tensor (and `tensor` itself) to (tensor, hops)."""
    found = {id(tensor): (tensor, 0)}
    frontier = [tensor]
    hops = 0
    while frontier:
        hops += 1
        parents = []
        for current in frontier:
            for parent in graph.producer_node(current).input_tensors:
                if id(parent) not in found:
                    found[id(parent)] = (parent, hops)
                    parents.append(parent)
        frontier = parents
    return found


def _trace_branch(left, right, add_layer, model):
    """Returns (entry layer of the residual branch, whether the shortcut projects)."""
    left_up, right_up = _distances(left), _distances(right)
    common = left_up.keys() & right_up.keys()
    if not common:
        raise ValueError(
            f"Cannot rewrite model '{model.name}': the inputs of Add layer "
            f"'{add_layer.name}' share no block input."
        )
    block_input_id = min(common, key=lambda i: left_up[i][1] + right_up[i][1])
    block_input = left_up[block_input_id][0]
    branch_up, shortcut_up = (
        (left_up, right_up)
        if left_up[block_input_id][1] >= right_up[block_input_id][1]
        else (right_up, left_up)
    )
    entries = {
        id(node.operation): node.operation
        for tensor, _ in branch_up.values()
        if id(tensor) != block_input_id
        for node in [graph.producer_node(tensor)]
        if any(t is block_input for t in node.input_tensors)
    }
    if len(entries) != 1:
        raise ValueError(
            f"Cannot rewrite model '{model.name}': the residual branch into Add layer "
            f"'{add_layer.name}' starts with {len(entries)} layers; supported blocks "
            "start their branch with one layer."
        )
    (entry,) = entries.values()
    if len(graph.layer_node(entry, model).input_tensors) != 1:
        raise ValueError(
            f"Cannot rewrite model '{model.name}': branch entry '{entry.name}' takes "
            "more than one input."
        )
    return entry, shortcut_up[block_input_id][1] > 0


def _validate_stages(stages, available):
    stages = tuple(stages)
    unknown = [s for s in stages if s not in available]
    if unknown or not stages:
        raise ValueError(
            f"`stages` must be a non-empty subset of {sorted(available)}. "
            f"Received: stages={stages!r}"
        )
    return stages
