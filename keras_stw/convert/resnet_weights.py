"""torchvision's ResNet weight names on the layers of KerasHub's `ResNetBackbone`."""

import keras

from keras_stw.convert.checkpoint_files import CheckpointError

# torchvision BatchNorm parameters -> Keras `BatchNormalization` variables.
_BATCH_NORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def keras_target(name: str) -> tuple[str, str]:
    """The KerasHub layer and variable that hold torchvision's weight `name`.

    KerasHub names its v1.5 ResNet's layers `conv1_conv`, `conv1_bn` (the stem) and
    `stack{s}_block{b}_{k}_{conv|bn}`, where `k` is 1 to 3 for the branch and 0 for the
    projection shortcut (torchvision's `downsample.0` / `.1`).

    Args:
        name: str. A torchvision name such as `"layer2.0.downsample.1.running_var"`.

    Returns:
        `(layer name, variable attribute)`, e.g. `("stack1_block0_0_bn",
        "moving_variance")`.

    Example:
    >>> keras_target("layer1.2.conv3.weight")
    ('stack0_block2_3_conv', 'kernel')
    """
    *module, parameter = name.split(".")
    if module in (["conv1"], ["bn1"]):
        layer = f"conv1_{module[0][:-1]}"
    else:
        stage, block, *part = module
        part = ".".join(part)
        kind = {"downsample.0": "0_conv", "downsample.1": "0_bn"}.get(part)
        kind = kind or f"{part[-1]}_{part[:-1]}"  # conv2 -> 2_conv, bn3 -> 3_bn
        layer = f"stack{int(stage.removeprefix('layer')) - 1}_block{block}_{kind}"
    return layer, "kernel" if layer.endswith("_conv") else _BATCH_NORM[parameter]


def assignments(model, state, classifier: bool) -> list[tuple[str, keras.Variable, object]]:
    """Pairs every weight of `state` with the variable of `model` it goes to.

    Convolution kernels are transposed from PyTorch's `(out, in, h, w)` to Keras's
    `(h, w, in, out)`, the classifier's from `(K, C)` to `(C, K)`. Nothing is assigned
    here, so a refused checkpoint leaves the model as it was.

    Args:
        model: a `keras_stw.VideoResNet` on `backbone="keras_hub"`.
        state: a `ResNetState`.
        classifier: bool. Whether the checkpoint's classifier goes to `frame_scores`.

    Returns:
        A list of `(checkpoint key, variable, value)`.

    Raises:
        CheckpointError: a weight has no variable or another shape, or a convolution or
            BatchNorm variable of the ResNet (or the classifier) gets no weight.

    Example:
    >>> for key, variable, value in assignments(model, state, classifier=True):
    ...     variable.assign(value)
    """
    backbone = model.get_layer("backbone")
    layers = {layer.name: layer for layer in backbone.layers}
    pairs = []
    for name, value in state.backbone.items():
        layer_name, attribute = keras_target(name)
        variable = getattr(layers.get(layer_name), attribute, None)
        if variable is None:
            raise CheckpointError(
                f"Checkpoint key {state.keys[name]} has no variable in '{model.name}' "
                f"(looked for {layer_name}.{attribute})."
            )
        value = value.transpose(2, 3, 1, 0) if attribute == "kernel" else value
        pairs.append((state.keys[name], variable, value))
    expected = [
        variable
        for layer in backbone.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization))
        for variable in layer.weights
    ]
    if classifier:
        dense = model.get_layer("frame_scores")
        prefix = state.classifier_key
        pairs.append((prefix + "weight", dense.kernel, state.classifier["weight"].T))
        pairs.append((prefix + "bias", dense.bias, state.classifier["bias"]))
        expected += [dense.kernel, dense.bias]
    for key, variable, value in pairs:
        if tuple(variable.shape) != value.shape:
            raise CheckpointError(
                f"Checkpoint key {key} has shape {value.shape} (as Keras lays it out); "
                f"{variable.path} in '{model.name}' has {tuple(variable.shape)}."
            )
    assigned = {id(variable) for _, variable, _ in pairs}
    missing = [variable.path for variable in expected if id(variable) not in assigned]
    if missing:
        raise CheckpointError(
            f"The checkpoint has no weights for {len(missing)} variables of "
            f"'{model.name}', e.g. {', '.join(missing[:3])}"
        )
    return pairs
