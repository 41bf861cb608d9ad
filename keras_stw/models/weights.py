"""Loading pretrained backbone weights: ImageNet downloads and local files."""

import os


class WeightsUnavailableError(RuntimeError):
    """Raised when pretrained weights cannot be fetched or read.

    Example:
    >>> try:
    ...     keras_stw.STWResNet50(weights="imagenet")
    ... except keras_stw.WeightsUnavailableError as error:
    ...     print(error)  # offline: names the download and how to pass a local file
    """


LOCAL_FILE_HINT = (
    "Fetch the backbone's weights file where the network is reachable and pass its path "
    "instead: weights='/path/to/file'."
)


def download_imagenet(description, build, hint=LOCAL_FILE_HINT):
    """Runs `build()`, which downloads ImageNet weights, with a clear offline error.

    Args:
        description: str. Names the download in the error message.
        build: callable returning the backbone with ImageNet weights loaded.
        hint: str. How to do without the download, the end of the error message.
            Defaults to passing the path of a weights file.

    Returns:
        What `build()` returns.
    """
    try:
        return build()
    except ImportError:  # A missing package (kagglehub) is not a missing network.
        raise
    except Exception as error:  # Keras, KerasCV and KerasHub raise Exception / OSError.
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights of {description}: {error}. "
            f"This machine may be offline. {hint}"
        ) from error


def load_backbone_weights(backbone, weights):
    """Loads `weights` (`None` or a file path) into `backbone`.

    Args:
        backbone: the `keras.Model` to load into.
        weights: `None` (keep the random initialization) or the path of a weights file
            saved from the same backbone (`.weights.h5`, or a Keras Applications `.h5`).
    """
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet' or the path of a weights file. "
            f"Received: weights={weights!r}"
        )
    if os.path.isdir(weights):
        raise ValueError(
            "`weights` is a directory: a KerasHub preset directory needs "
            f"backbone='keras_hub'. Received: weights={os.fspath(weights)!r}"
        )
    if not os.path.isfile(weights):
        raise ValueError(
            "`weights` must be None, 'imagenet' or the path of an existing weights "
            f"file. Received: weights={os.fspath(weights)!r} (no such file)"
        )
    try:
        backbone.load_weights(weights)
    except Exception as error:
        raise WeightsUnavailableError(
            f"Could not load backbone weights from {os.fspath(weights)!r} into "
            f"'{backbone.name}': {error}"
        ) from error
