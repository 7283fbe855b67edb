"""ImageNet-scale CNN spaces whose students are timm models."""

from search_spaces.timm_cnn.space import BLOCK_TYPES, DEFAULT_DEPTHS, DEFAULT_WIDTHS, TimmResNetSpace

__all__ = ["BLOCK_TYPES", "DEFAULT_DEPTHS", "DEFAULT_WIDTHS", "TimmResNetSpace"]
