"""Multiply-adds of one clip for TSN, TSM and STW ResNet-50, beside the paper's numbers.

python benchmarks/flops.py [--backbone keras_cv|keras]
"""

import argparse

import keras_stw

# Table rows of the paper (GFLOPs counted as multiply-adds, 224x224).
PAPER = {("TSN", 8): "33", ("TSM", 8): "33", ("STW", 8): "33.5 (text) / 34 (table)",
         ("TSN", 16): "65", ("TSM", 16): "65", ("STW", 16): "67"}  # fmt: skip
MODELS = ("TSN", "TSM", "STW")  # rows, in order; each is the registry's `{name}_resnet50`


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="keras_cv", choices=keras_stw.BACKBONES)
    args = parser.parse_args()
    print(f"backbone={args.backbone}, 224x224, 174 classes, one clip")
    print("| model | frames | GMACs (keras-stw) | vs TSN | paper GFLOPs |")
    print("| --- | --- | --- | --- | --- |")
    for frames in (8, 16):
        tsn = None
        for name in MODELS:
            model = keras_stw.create_model(
                f"{name.lower()}_resnet50", num_frames=frames, backbone=args.backbone
            )
            macs = keras_stw.count_flops(model)
            tsn = tsn or macs
            print(
                f"| {name} | {frames} | {macs / 1e9:.2f} | {100 * (macs / tsn - 1):+.2f}% | "
                f"{PAPER[(name, frames)]} |"
            )


if __name__ == "__main__":
    main()
