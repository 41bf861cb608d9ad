"""Weight tags, as timm's `arch.tag`: published checkpoints, downloaded, checked, converted once.

`create_model("tsm_resnet50.k400_mmaction2", pretrained=True)` downloads the tag's
checkpoint into the Keras cache (`$KERAS_HOME`, else `~/.keras`, under `keras_stw/`),
checks the SHA-256 prefix its source publishes in the file name, converts it with
`convert_checkpoint` and caches the converted model as a preset folder, which later
calls load with no download and no conversion.
"""

import dataclasses
import fnmatch
import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request

from keras_stw.convert.converter import convert_checkpoint
from keras_stw.models import preset, registry
from keras_stw.models.weights import WeightsUnavailableError

# A mirror of the checkpoints' files (a base URL), instead of their published URLs.
MIRROR_ENV = "KERAS_STW_WEIGHTS_MIRROR"


@dataclasses.dataclass(frozen=True)
class PretrainedTag:
    """A published checkpoint that a zoo model can be created with.

    Attributes:
        name: str. `"{model}.{tag}"`, e.g. `"tsm_resnet50.k400_mmaction2"`.
        model: str. The registered model it converts into.
        url: str. The published URL of the checkpoint file.
        sha256_prefix: str. The first hex digits of the file's SHA-256, as its source
            puts them in the file name (torch.hub's and mmengine's convention).
        num_classes: int. The classes of its classifier.
        source: str. Where the URL and the hash were read.
        description: str. What the weights are.

    Example:
    >>> keras_stw.convert.PRETRAINED["tsn_resnet50.tv_in1k"].sha256_prefix
    '0676ba61'
    """

    name: str
    model: str
    url: str
    sha256_prefix: str
    num_classes: int
    source: str
    description: str


PRETRAINED: dict[str, PretrainedTag] = {}


def register_pretrained(
    name: str, url: str, sha256_prefix: str, num_classes: int, source: str, description: str
) -> PretrainedTag:
    """Adds a weight tag, `"{model}.{tag}"`, for `list_pretrained` and `create_model`.

    Args:
        name: str. `"{model}.{tag}"`; `model` is a registered zoo name.
        url: str. The checkpoint file's URL (`.pth`, `.safetensors` or `.npz`).
        sha256_prefix: str. The first hex digits of its SHA-256 (at least 8).
        num_classes: int. The classes of its classifier.
        source: str. Where the URL and hash come from, for the record.
        description: str. What the weights are.

    Returns:
        The `PretrainedTag`.

    Example:
    >>> keras_stw.convert.register_pretrained("tsm_resnet50.mine", "https://host/m-1a2b3c4d.pth",
    ...     "1a2b3c4d", 10, "my server", "TSM on my data")
    """
    model, _, tag = name.partition(".")
    digits = set("0123456789abcdef")
    if not model or not tag or len(sha256_prefix) < 8 or not set(sha256_prefix) <= digits:
        raise ValueError(
            "A weight tag is '{model}.{tag}' with a SHA-256 prefix of at least 8 lowercase "
            f"hex digits. Received: name={name!r}, sha256_prefix={sha256_prefix!r}"
        )
    entry = PretrainedTag(name, model, url, sha256_prefix, num_classes, source, description)
    PRETRAINED[name] = entry
    return entry


def list_pretrained(pattern: str | None = None) -> list[str]:
    """The weight tags, `"{model}.{tag}"`, sorted; those matching `pattern` if given.

    Args:
        pattern: str or `None`. A shell-style pattern, e.g. `"tsm_*"`. Defaults to `None`.

    Returns:
        A list of tag names.

    Example:
    >>> keras_stw.list_pretrained("tsm_*")
    ['tsm_resnet50.k400_mmaction2', 'tsm_resnet50.sthv2_mmaction2']
    """
    names = [name for name in PRETRAINED if pattern is None or fnmatch.fnmatchcase(name, pattern)]
    return sorted(names, key=registry.natural_key)


def load_pretrained(name: str, mirror: str | None = None, **kwargs):
    """The zoo model of weight tag `name`, with the tag's converted weights.

    The first call downloads the checkpoint into the Keras cache, checks its SHA-256
    prefix, converts it and saves the result as a preset folder; later calls with the
    same keywords load that folder. A failed or refused download leaves no file behind.

    Args:
        name: str. A tag from `list_pretrained()`, or a model name with tags (its first).
        mirror: str or `None`. A base URL that serves the checkpoint files under their
            published names, instead of their published hosts. Defaults to `None`, the
            `KERAS_STW_WEIGHTS_MIRROR` environment variable if set.
        **kwargs: keywords of `convert_checkpoint` (`num_frames`, `image_shape`,
            `activation`, ...). A `num_classes` other than the tag's keeps the
            pretrained ResNet and gives the model a new classifier, for fine-tuning.

    Returns:
        A `keras_stw.VideoResNet`.

    Raises:
        WeightsUnavailableError: the download failed (offline, interrupted) or the file
            is not the published one; the message names the URL and the local-file route.

    Example:
    >>> model = keras_stw.create_model("tsm_resnet50.k400_mmaction2", pretrained=True)
    """
    entry = _entry(name)
    # Another class count keeps the pretrained ResNet under a new classifier (as timm).
    num_classes = kwargs.pop("num_classes", entry.num_classes)
    new_classifier = num_classes != entry.num_classes
    chosen = {**kwargs, "num_classes": num_classes} if new_classifier else kwargs
    cache = os.path.join(_keras_home(), "keras_stw")
    options = json.dumps(chosen, sort_keys=True, default=str)
    suffix = "" if not chosen else "-" + hashlib.sha256(options.encode()).hexdigest()[:8]
    converted = os.path.join(cache, "presets", entry.name + suffix)
    if os.path.isfile(os.path.join(converted, preset.METADATA_FILE)):
        return preset.from_preset(converted)
    checkpoint = _fetch(entry, mirror or os.environ.get(MIRROR_ENV), cache)
    model, _ = convert_checkpoint(
        checkpoint, entry.model, num_classes, backbone_only=new_classifier, **kwargs
    )
    provenance = {
        "tag": entry.name,
        "url": entry.url,
        "sha256": preset.sha256(checkpoint),
        "source": entry.source,
        "converted_by": "keras_stw.convert.convert_checkpoint",
        "options": json.loads(options),
    }
    preset.save_to_preset(model, converted, provenance)
    return model


def _entry(name):
    if name in PRETRAINED:
        return PRETRAINED[name]
    tags = list_pretrained(f"{name}.*")
    if tags:
        return PRETRAINED[tags[0]]
    raise ValueError(
        f"No pretrained weights of that name. Available: {list_pretrained()}. "
        f"Received: name={name!r}"
    )


def _keras_home():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _fetch(entry, mirror, cache):
    """The path of the tag's checkpoint in the cache, downloaded and checked if missing."""
    filename = entry.url.rsplit("/", 1)[-1]
    path = os.path.join(cache, "checkpoints", filename)
    if os.path.isfile(path):
        return path
    url = entry.url if not mirror else f"{mirror.rstrip('/')}/{filename}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    try:
        _download(url, partial, entry)
        digest = preset.sha256(partial)
        if not digest.startswith(entry.sha256_prefix):
            raise WeightsUnavailableError(
                f"The file downloaded from {url} is not the published {filename}: its "
                f"SHA-256 is {digest}, which does not start with {entry.sha256_prefix} "
                f"({entry.source}). It was deleted."
            )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _download(url, path, entry):
    """Writes `url` to `path`, or raises naming the URL and how to do without it."""
    local = (
        f"Download {entry.url} where the network is reachable and convert the file: "
        f"keras_stw.convert.convert_checkpoint('/path/to/{entry.url.rsplit('/', 1)[-1]}', "
        f"{entry.model!r}) or `python -m keras_stw convert /path/to/file --model "
        f"{entry.model} --out model.keras`."
    )
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as file:
            expected = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(1 << 20):
                file.write(chunk)
                received += len(chunk)
    except http.client.IncompleteRead as error:
        raise WeightsUnavailableError(
            f"The download of {url} stopped after {len(error.partial)} more bytes, before "
            f"the end of the file; nothing was kept. Run it again, or: {local}"
        ) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise WeightsUnavailableError(
            f"Could not download {url}: {reason}. This machine may be offline. {local}"
        ) from error
    if expected is not None and received != int(expected):
        raise WeightsUnavailableError(
            f"The download of {url} stopped after {received} of {expected} bytes; nothing "
            f"was kept. Run it again, or: {local}"
        )


_TORCHVISION = "torchvision/models/resnet.py (pytorch/vision), {}_Weights.IMAGENET1K_V1"
_MMACTION2 = "mmaction2 1.x configs/recognition/tsm/README.md (open-mmlab/mmaction2), ckpt of {}"
register_pretrained(
    "tsn_resnet50.tv_in1k",
    "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "0676ba61",
    1000,
    _TORCHVISION.format("ResNet50"),
    "torchvision's ResNet-50 on ImageNet-1k (v1.5), the paper's initialization",
)
register_pretrained(
    "tsn_resnet101.tv_in1k",
    "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "63fe2227",
    1000,
    _TORCHVISION.format("ResNet101"),
    "torchvision's ResNet-101 on ImageNet-1k (v1.5)",
)
register_pretrained(
    "tsm_resnet50.k400_mmaction2",
    "https://download.openmmlab.com/mmaction/v1.0/recognition/tsm/"
    "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb/"
    "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb_20220831-64d69186.pth",
    "64d69186",
    400,
    _MMACTION2.format("tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb"),
    "mmaction2's TSM ResNet-50, Kinetics-400, 8 frames (1x1x8)",
)
register_pretrained(
    "tsm_resnet50.sthv2_mmaction2",
    "https://download.openmmlab.com/mmaction/v1.0/recognition/tsm/"
    "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb/"
    "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb_20230317-be0fc26e.pth",
    "be0fc26e",
    174,
    _MMACTION2.format("tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb"),
    "mmaction2's TSM ResNet-50, Something-Something V2, 8 frames (1x1x8)",
)
