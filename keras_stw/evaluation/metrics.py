"""Classification metrics of video scores: top-k, per-class accuracy, confusion matrix."""

import numpy as np


def classification_metrics(scores, labels, class_names: list[str]) -> dict:
    """Top-1, top-5, mean per-class accuracy and the confusion matrix.

    Args:
        scores: float array `(N, num_classes)`: class scores per video.
        labels: int array `(N,)`: true classes.
        class_names: list of str. Names in class order.

    Returns:
        A dict: `top1`, `top5`, `mean_class_accuracy` (floats in [0, 1]),
        `per_class` (name -> accuracy, or `None` for a class without videos) and
        `confusion` (int array `(num_classes, num_classes)`, rows true, columns
        predicted).

    Raises:
        ValueError: shapes that do not match, no video, or a label out of range.

    Example:
    >>> classification_metrics(np.eye(3), [0, 1, 1], ["a", "b", "c"])["top1"]
    0.6666666666666666
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[1] != len(class_names) or len(scores) != len(labels):
        raise ValueError(
            "`scores` must be (N, num_classes) with N labels and one name per class. "
            f"Received: scores {scores.shape}, {len(labels)} labels, "
            f"{len(class_names)} class names"
        )
    if not len(labels) or labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(
            f"`labels` must be at least one class index in [0, {len(class_names)}). "
            f"Received: {len(labels)} labels"
            + (f" from {labels.min()} to {labels.max()}" if len(labels) else "")
        )
    k = min(5, scores.shape[1])
    top_k = np.argsort(-scores, axis=1)[:, :k]
    predicted = top_k[:, 0]
    confusion = np.zeros((len(class_names),) * 2, np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    counts = confusion.sum(1)
    per_class = {
        name: float(confusion[i, i] / counts[i]) if counts[i] else None
        for i, name in enumerate(class_names)
    }
    present = [v for v in per_class.values() if v is not None]
    return {
        "top1": float(np.mean(predicted == labels)),
        "top5": float(np.mean((top_k == labels[:, None]).any(1))),
        "mean_class_accuracy": float(np.mean(present)),
        "per_class": per_class,
        "confusion": confusion,
    }


def plot_confusion_matrix(confusion, class_names: list[str], path: str) -> str:
    """Saves a row-normalized confusion matrix as a PNG (matplotlib, no display).

    Args:
        confusion: int array `(num_classes, num_classes)`, rows true classes.
        class_names: list of str. Tick labels; omitted beyond 40 classes.
        path: str. Output PNG.

    Returns:
        `path`.

    Example:
    >>> plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b", "c"], "cm.png")
    'cm.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    confusion = np.asarray(confusion, np.float64)
    rows = np.maximum(confusion.sum(1, keepdims=True), 1)
    size = min(4 + 0.3 * len(class_names), 30)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(confusion / rows, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046)
    if len(class_names) <= 40:
        ticks = np.arange(len(class_names))
        axis.set_xticks(ticks, class_names, rotation=90, fontsize=7)
        axis.set_yticks(ticks, class_names, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("Confusion matrix (row-normalized)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
