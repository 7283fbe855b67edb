"""The NAS-Bench-201 network: stem, three stages of cells, residual reductions, classifier.

The layer layout and parameter count follow the benchmark's own network (NAS-Bench-201,
ICLR 2020): a 3x3 stem convolution with BatchNorm, stages of ``cells_per_stage`` cells at C,
2C and 4C channels separated by stride-2 residual blocks, then BatchNorm, ReLU, global
average pooling and a linear classifier. Every edge builds its operation, including edges
that cannot reach the output, so the parameter count matches the benchmark's table.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from search_spaces.nb201.cell import EDGES, Cell


class ReLUConvBN(nn.Sequential):
    """ReLU, bias-free convolution and BatchNorm: the benchmark's ``nor_conv`` operation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class ResidualReduction(nn.Module):
    """A stride-2 residual block that doubles the channels between two stages."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def build_operation(name: str, channels: int) -> nn.Module | None:
    """Build the operation ``name`` at ``channels``; ``none`` builds nothing."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}")


class Cell201(nn.Module):
    """One searched cell: node j is the sum of the operations on the edges into j."""

    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        self.cell = cell
        self.edges = nn.ModuleDict()
        for (target, source), op in zip(EDGES, cell):
            module = build_operation(op, channels)
            if module is not None:
                self.edges[f"{target}_{source}"] = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            total = None
            # A `none` edge adds zeros, so it is skipped rather than computed.
            for source in range(target):
                key = f"{target}_{source}"
                if key in self.edges:
                    out = self.edges[key](nodes[source])
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[3]


class NB201Network(nn.Module):
    """A NAS-Bench-201 network with timm-style feature access.

    Attributes:
        num_features: Width of the pooled embedding (4C).
        feature_info: One dict per stage with ``num_chs``, ``reduction`` and ``module``.
    """

    def __init__(self, cell: Cell, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.cell = cell
        self.num_classes = num_classes
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

        stages = []
        self.feature_info = []
        width = channels
        for stage_index in range(3):
            layers: list[nn.Module] = []
            if stage_index > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(Cell201(cell, width) for _ in range(cells_per_stage))
            stages.append(nn.Sequential(*layers))
            self.feature_info.append({"num_chs": width, "reduction": 2 ** stage_index, "module": f"stages.{stage_index}"})
        self.stages = nn.Sequential(*stages)

        self.num_features = width
        self.head_norm = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the output of each of the three stages."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the feature map just before global pooling (after the final BatchNorm-ReLU)."""
        return self.head_norm(self.stages(self.stem(x)))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map and classify it; with ``pre_logits`` return the pooled embedding."""
        pooled = self.global_pool(features).flatten(1)
        return pooled if pre_logits else self.classifier(pooled)

    def get_classifier(self) -> nn.Linear:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# Multiply-accumulates per output pixel and per input-output channel pair, by operation.
_OPERATION_KERNEL_AREA = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}


def network_macs(cell: Cell, spatial: tuple[int, int], channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3, num_classes: int = 10) -> int | None:
    """Return the convolution and linear multiply-accumulates of one NB201Network forward pass.

    This is the count that ``search_spaces.cost.count_flops`` makes with forward hooks, worked
    out from the layer shapes. Returns ``None`` for an input size at which the network cannot
    run (an odd side before a reduction, where the residual branches disagree in size).
    """
    height, width = spatial
    total = height * width * channels * in_channels * 9
    cell_area = sum(_OPERATION_KERNEL_AREA.get(op, 0) for op in cell)
    stage_width = channels
    for stage_index in range(3):
        if stage_index > 0:
            reduced = (_strided_size(height), _strided_size(width))
            if reduced != (height // 2, width // 2):
                return None
            height, width = reduced
            wider = stage_width * 2
            # conv_a (3x3, stride 2), conv_b (3x3) and the 1x1 shortcut after pooling.
            total += height * width * (9 * stage_width * wider + 9 * wider * wider + stage_width * wider)
            stage_width = wider
        total += cells_per_stage * height * width * stage_width * stage_width * cell_area
    return total + stage_width * num_classes


def _strided_size(size: int) -> int:
    # Output side of a 3x3 convolution with stride 2 and padding 1.
    return (size - 1) // 2 + 1
