"""PyTorch references with the published module layouts, key for key, and random weights.

Written here because torchvision and mmaction2 are too heavy for the test machines; each
class follows its source's `state_dict` names exactly:

- torchvision `resnet50` / `resnet101` (torchvision/models/resnet.py, v1.5: the stride in
  the 3x3 convolution): `conv1`, `bn1`, `layerN.M.conv1/bn1/conv2/bn2/conv3/bn3`,
  `layerN.M.downsample.0/.1`, `fc`.
- TSM's `TSN` (mit-han-lab/temporal-shift-module, ops/models.py and
  ops/temporal_shift.py): the torchvision ResNet as `base_model`, the shift wrapped
  around each block's `conv1` (`conv1.net`, `blockres`), every other block when the
  third stage has 23 or more (`n_round = 2`), `new_fc`, average consensus of logits; saved
  from `nn.DataParallel` (`module.`) in a dict with `state_dict`.
- mmaction2's `Recognizer2D` with `ResNetTSM` and `TSMHead` (mmaction/models/backbones/
  resnet.py, resnet_tsm.py, heads/tsm_head.py): mmcv `ConvModule`s (`conv`, `bn`), the
  shift around `conv1.conv` (`conv1.conv.net`), `downsample.conv/bn`, `cls_head.fc_cls`.
"""

import torch
from torch import nn
from torch.nn import functional

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BLOCKS = {26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def shift(x, num_segments, shift_div=8):
    """TSM's shift: channels [0, fold) take frame t + 1, [fold, 2 * fold) frame t - 1."""
    nt, c, h, w = x.size()
    x = x.view(nt // num_segments, num_segments, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Both repositories' wrapper: shifts, then runs the wrapped module, `net`."""

    def __init__(self, net, num_segments, shift_div=8):
        super().__init__()
        self.net = net
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x):
        return self.net(shift(x, self.num_segments, self.shift_div))


class ConvModule(nn.Module):
    """mmcv's `ConvModule`: `conv` (no bias before a norm), `bn`, then ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return functional.relu(x) if self.relu else x


class Bottleneck(nn.Module):
    """torchvision's v1.5 bottleneck (`mmaction2=False`) or mmaction2's (`True`)."""

    def __init__(self, cin, width, stride, mmaction2):
        super().__init__()
        self.mmaction2 = mmaction2
        cout = 4 * width
        shapes = ((cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1))
        for k, (i, o, kernel, s) in enumerate(shapes, 1):
            if mmaction2:
                setattr(self, f"conv{k}", ConvModule(i, o, kernel, s, relu=k < 3))
            else:
                setattr(self, f"conv{k}", nn.Conv2d(i, o, kernel, s, kernel // 2, bias=False))
                setattr(self, f"bn{k}", nn.BatchNorm2d(o))
        self.downsample = None
        if stride != 1 or cin != cout:
            if mmaction2:
                self.downsample = ConvModule(cin, cout, 1, stride, relu=False)
            else:
                conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
                self.downsample = nn.Sequential(conv, nn.BatchNorm2d(cout))

    def forward(self, x):
        out = x
        for k in (1, 2, 3):
            out = getattr(self, f"conv{k}")(out)
            if not self.mmaction2:
                out = getattr(self, f"bn{k}")(out)
                out = functional.relu(out) if k < 3 else out
        identity = x if self.downsample is None else self.downsample(x)
        return functional.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's `ResNet` (with `fc`), or mmaction2's `ResNet` backbone (without)."""

    def __init__(self, depth, num_classes=1000, mmaction2=False):
        super().__init__()
        if mmaction2:
            self.conv1 = ConvModule(3, 64, 7, 2)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for n, blocks in enumerate(BLOCKS[depth], 1):
            width = 64 * 2 ** (n - 1)
            layer = []
            for m in range(blocks):
                layer.append(Bottleneck(cin, width, 2 if m == 0 and n > 1 else 1, mmaction2))
                cin = 4 * width
            setattr(self, f"layer{n}", nn.Sequential(*layer))
        self.fc = None if mmaction2 else nn.Linear(2048, num_classes)

    def features(self, x):
        x = self.conv1(x)
        if self.fc is not None:
            x = functional.relu(self.bn1(x))
        x = self.maxpool(x)
        for n in (1, 2, 3, 4):
            x = getattr(self, f"layer{n}")(x)
        return torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def make_temporal_shift(resnet, num_segments, shift_div=8, n_round=None):
    """Both repositories' `make_temporal_shift(place='blockres')`.

    `n_round` is theirs, 2 (every other block) when the third stage has 23 or more
    blocks, else 1; a test may force 2 to get that placement on a small ResNet.
    """
    n_round = n_round or (2 if len(resnet.layer3) >= 23 else 1)
    for n in (1, 2, 3, 4):
        for m, block in enumerate(getattr(resnet, f"layer{n}")):
            if m % n_round:
                continue
            owner = block.conv1 if block.mmaction2 else block
            attribute = "conv" if block.mmaction2 else "conv1"
            wrapped = TemporalShift(getattr(owner, attribute), num_segments, shift_div)
            setattr(owner, attribute, wrapped)
    return resnet


class TSN(nn.Module):
    """TSM's `TSN(is_shift=True)`: `base_model` without `fc`, then `new_fc`, averaged."""

    def __init__(self, depth, num_classes, num_segments, is_shift=True, n_round=None):
        super().__init__()
        self.num_segments = num_segments
        self.base_model = ResNet(depth)
        if is_shift:
            make_temporal_shift(self.base_model, num_segments, n_round=n_round)
        self.base_model.fc = nn.Dropout(0.5)
        self.new_fc = nn.Linear(2048, num_classes)

    def forward(self, frames):
        logits = self.new_fc(self.base_model.features(frames))
        return logits.view(-1, self.num_segments, logits.shape[-1]).mean(1)


class TSMHead(nn.Module):
    """mmaction2's `TSMHead`: `fc_cls` on pooled features, logits averaged per clip."""

    def __init__(self, num_classes, num_segments):
        super().__init__()
        self.num_segments = num_segments
        self.fc_cls = nn.Linear(2048, num_classes)

    def forward(self, features):
        logits = self.fc_cls(features)
        return logits.view(-1, self.num_segments, logits.shape[-1]).mean(1)


class Recognizer2D(nn.Module):
    """mmaction2's `Recognizer2D` with a `ResNetTSM` backbone and a `TSMHead`."""

    def __init__(self, depth, num_classes, num_segments):
        super().__init__()
        self.backbone = make_temporal_shift(ResNet(depth, mmaction2=True), num_segments)
        self.cls_head = TSMHead(num_classes, num_segments)

    def forward(self, frames):
        return self.cls_head(self.backbone.features(frames))


def randomize(module, seed=0):
    """Random weights and BatchNorm statistics that keep activations near unit scale.

    Convolutions and linear layers get He-normal weights; BatchNorm gets random scale,
    shift, running mean and running variance, so a converter that swapped or skipped
    any of them would show in the logits. Returns `module`, in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                fan_in = layer.weight[0].numel()
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
                layer.weight.mul_((2.0 / fan_in) ** 0.5)
                if layer.bias is not None:
                    layer.bias.copy_(uniform(layer.bias.shape, -0.1, 0.1))
            elif isinstance(layer, nn.BatchNorm2d):
                channels = layer.num_features
                layer.weight.copy_(uniform(channels, 0.2, 0.6))
                layer.bias.copy_(uniform(channels, -0.1, 0.1))
                layer.running_mean.copy_(uniform(channels, -0.1, 0.1))
                layer.running_var.copy_(uniform(channels, 0.5, 1.5))
    return module.eval()


def normalize(clips):
    """uint8 clips `(B, T, H, W, 3)` -> torchvision's normalized frames `(B * T, 3, H, W)`."""
    frames = torch.from_numpy(clips).float().div(255).flatten(0, 1).permute(0, 3, 1, 2)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (frames - mean) / std
