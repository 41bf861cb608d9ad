"""Reading PyTorch checkpoints, `.safetensors` and `.npz` exports into NumPy arrays."""

import importlib.util
import os
import pickle
import sys
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """Raised when a checkpoint cannot be read, or does not fit the model asked for.

    The message is one line that names the file or key and what was expected.

    Example:
    >>> try:
    ...     keras_stw.convert.read_checkpoint("truncated.pth")
    ... except keras_stw.convert.CheckpointError as error:
    ...     print(error)
    """


def read_checkpoint(path) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict from a `.pth`, `.safetensors` or `.npz` file.

    A `.pth` (or any other name) is read with `torch.load(weights_only=True)`, which
    refuses pickled code; a checkpoint dict that holds a `state_dict` (TSM's and
    mmaction2's) gives that state dict. A file that also pickles other Python objects
    (mmaction2 1.x's keep mmengine's training state in `meta`) is refused, naming one
    of them and the way to keep the tensors alone. `.safetensors` and `.npz` files need no torch:
    they are what a TensorFlow-only user converts from. Floating-point tensors come back
    as float32.

    Args:
        path: str or `os.PathLike`. The checkpoint file.

    Returns:
        dict from the state dict's keys to NumPy arrays.

    Example:
    >>> state = read_checkpoint("resnet50-0676ba61.pth")
    >>> state["conv1.weight"].shape
    (64, 3, 7, 7)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file.")
    if path.endswith(".safetensors"):
        state = _read_safetensors(path)
    elif path.endswith(".npz"):
        state = _read_npz(path)
    else:
        state = _read_torch(path)
    return {key: _float32(value) for key, value in state.items()}


def _float32(value):
    value = np.asarray(value)
    return value.astype("float32") if np.issubdtype(value.dtype, np.floating) else value


def _read_torch(path):
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading the PyTorch checkpoint {path} needs torch: `pip install torch` (the "
            "CPU build is enough). Without torch, convert a .safetensors or .npz export of "
            "its state dict."
        ) from error
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" not in str(error).lower():
            raise CheckpointError(f"{path}: cannot read it as a PyTorch checkpoint.") from error
        raise _python_objects_error(path, torch) from error
    except Exception as error:  # torch raises RuntimeError, EOFError, ... on a bad file.
        raise CheckpointError(
            f"{path}: cannot read it as a PyTorch checkpoint (truncated, or not a .pth file?)."
        ) from error
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    tensors = isinstance(checkpoint, dict) and all(
        isinstance(value, torch.Tensor) for value in checkpoint.values()
    )
    if not tensors or not checkpoint:
        raise CheckpointError(
            f"{path}: is not a state dict (a dict of tensors, or a dict with a "
            "'state_dict' of tensors)."
        )
    # NumPy has no bfloat16: floating-point tensors leave torch as float32.
    return {
        key: (value.float() if value.is_floating_point() else value).numpy()
        for key, value in checkpoint.items()
    }


def _python_objects_error(path, torch):
    """The refusal of a file that pickles Python objects: one of them, and the way out."""
    names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    # Unpickling them needs their packages (mmengine for mmaction2 1.x's files).
    missing = [name for name in names if not _installed(name.split(".")[0])]
    packages = sorted({name.split(".")[0] for name in missing})
    example = f" (e.g. {(missing or names)[-1]})" if names else ""
    where = f" where {' and '.join(packages)} is installed" if packages else ""
    return CheckpointError(
        f"{path}: holds Python objects besides tensors{example}, which torch.load("
        f"weights_only=True) refuses. If you trust the file, save its tensors alone{where}: "
        f"torch.save(torch.load({path!r}, weights_only=False)['state_dict'], 'weights.pth')"
    )


def _installed(package):
    return package in sys.modules or importlib.util.find_spec(package) is not None


def _read_safetensors(path):
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError as error:
        raise ImportError(
            f"Reading {path} needs safetensors: `pip install keras-stw[convert]` or "
            "`pip install safetensors`."
        ) from error
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise CheckpointError(
            f"{path}: cannot read it as a .safetensors file (truncated?): {error}"
        ) from error


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path}: cannot read it as an .npz file (truncated?): {error}"
        ) from error
