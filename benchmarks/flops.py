"""Multiply-adds of one clip for TSN, TSM and STW ResNet-50, beside the paper's numbers.

python benchmarks/flops.py [--backbone keras_cv keras keras_hub]

One column per backbone: KerasCV's and Keras Applications' ResNet-50 are v1 (stride in
the first 1x1 convolution of a stage), KerasHub's is v1.5 (stride in the 3x3
convolution), as the paper's.
"""

import argparse

import keras_stw

# Table rows of the paper (GFLOPs counted as multiply-adds, 224x224).
PAPER = {("TSN", 8): "33", ("TSM", 8): "33", ("STW", 8): "33.5 (text) / 34 (table)",
         ("TSN", 16): "65", ("TSM", 16): "65", ("STW", 16): "67"}  # fmt: skip
MODELS = ("TSN", "TSM", "STW")  # rows, in order; each is the registry's ResNet-50 of the family
COLUMNS = {"keras_cv": "KerasCV v1", "keras": "Keras Applications v1", "keras_hub": "KerasHub v1.5"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbone", nargs="+", default=list(keras_stw.BACKBONES), choices=keras_stw.BACKBONES
    )
    args = parser.parse_args()
    print("224x224, 174 classes, one clip: GMACs (vs TSN on the same backbone)")
    print(f"| model | frames | {' | '.join(COLUMNS[b] for b in args.backbone)} | paper GFLOPs |")
    print("| --- | --- | " + "--- | " * len(args.backbone) + "--- |")
    for frames in (8, 16):
        tsn = {}
        for name in MODELS:
            cells = []
            for backbone in args.backbone:
                (model_name,) = keras_stw.list_models(family=name.lower(), depth=50)
                model = keras_stw.create_model(model_name, num_frames=frames, backbone=backbone)
                macs = keras_stw.count_flops(model)
                tsn.setdefault(backbone, macs)
                cells.append(f"{macs / 1e9:.2f} ({100 * (macs / tsn[backbone] - 1):+.2f}%)")
            print(f"| {name} | {frames} | {' | '.join(cells)} | {PAPER[(name, frames)]} |")


if __name__ == "__main__":
    main()
