"""The CIFAR ResNet: a 3x3 stem, three stages of basic blocks, global pooling and a classifier.

This is the layout of the usual CIFAR ResNets: ResNet-20 has 3 blocks per stage and ResNet-110
has 18, at widths 16, 32 and 64. Here every stage has its own depth and width. A block whose
stride or width changes uses a projection shortcut (1x1 convolution and BatchNorm), so any pair
of stage widths works.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from search_spaces.options import positive_int


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm, added to the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A CIFAR ResNet with one depth and one width per stage and timm-style feature access.

    Args:
        depths: Basic blocks in each of the three stages.
        widths: Output channels of each stage. The stem has the first stage's width.
        num_classes: Classifier outputs.
        in_channels: Input image channels.

    Attributes:
        num_features: Width of the pooled embedding (the last stage's width).
        feature_info: One dict per stage with ``num_chs``, ``reduction`` and ``module``.

    Example:
        >>> resnet20 = CifarResNet(depths=(3, 3, 3), widths=(16, 32, 64), num_classes=10)
        >>> resnet20(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, depths: Sequence[int], widths: Sequence[int], num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        if len(depths) != 3 or len(widths) != 3:
            raise ValueError(f"a CIFAR ResNet has 3 stages; got {len(depths)} depths {list(depths)} and "
                             f"{len(widths)} widths {list(widths)}")
        depths = [positive_int(f"depth of stage {index + 1}", depth) for index, depth in enumerate(depths)]
        widths = [positive_int(f"width of stage {index + 1}", width) for index, width in enumerate(widths)]
        self.depths = tuple(depths)
        self.widths = tuple(widths)
        self.num_classes = positive_int("num_classes", num_classes)
        in_channels = positive_int("in_channels", in_channels)

        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=False))
        stages = []
        self.feature_info = []
        channels = widths[0]
        for index, (depth, width) in enumerate(zip(depths, widths)):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock(channels, width, stride)]
            blocks.extend(BasicBlock(width, width) for _ in range(depth - 1))
            stages.append(nn.Sequential(*blocks))
            channels = width
            self.feature_info.append({"num_chs": width, "reduction": 2 ** index, "module": f"stages.{index}"})
        self.stages = nn.Sequential(*stages)

        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, self.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Kaiming-normal convolutions (fan-out, ReLU gain), the initialisation timm's ResNet also uses.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the output of each of the three stages."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the feature map before global pooling: the last stage's output, after its ReLU."""
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map and classify it, or return the pooled embedding when ``pre_logits`` is true."""
        pooled = self.global_pool(features).flatten(1)
        return pooled if pre_logits else self.classifier(pooled)

    def get_classifier(self) -> nn.Linear:
        """Return the final linear classifier."""
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_cifar_resnet(depth: int, num_classes: int = 100, widths: Sequence[int] = (16, 32, 64),
                       in_channels: int = 3) -> CifarResNet:
    """Build the CIFAR ResNet of ``depth`` layers: (depth - 2) / 6 blocks per stage.

    ResNet-20 has 3 blocks per stage, ResNet-56 has 9 and ResNet-110 (the usual teacher of
    the ResNet-20-like distillation space) has 18.

    Example:
        >>> teacher = build_cifar_resnet(110, num_classes=100)

    Raises:
        ValueError: If ``depth`` is not 6n + 2 for a positive integer n.
    """
    depth = positive_int("depth", depth)
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ValueError(f"a CIFAR ResNet has 6n + 2 layers (20, 32, 44, 56, 110, ...), got depth {depth}")
    blocks = (depth - 2) // 6
    return CifarResNet(depths=(blocks,) * 3, widths=widths, num_classes=num_classes, in_channels=in_channels)
