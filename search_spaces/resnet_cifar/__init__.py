"""CIFAR ResNet macro space: per-stage depth and width, 64 students by default."""

from search_spaces.resnet_cifar.network import BasicBlock, CifarResNet, build_cifar_resnet
from search_spaces.resnet_cifar.space import DEFAULT_DEPTHS, DEFAULT_WIDTHS, ResNetCifarSpace

__all__ = ["DEFAULT_DEPTHS", "DEFAULT_WIDTHS", "BasicBlock", "CifarResNet", "ResNetCifarSpace", "build_cifar_resnet"]
