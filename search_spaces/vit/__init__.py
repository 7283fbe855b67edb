"""Vision Transformer space whose students are timm ``VisionTransformer`` models."""

from search_spaces.vit.space import (DEFAULT_DEPTHS, DEFAULT_HEADS, DEFAULT_MLP_RATIOS, DEFAULT_PATCH_SIZES,
                                     DEFAULT_WIDTHS, ViTSpace)

__all__ = ["DEFAULT_DEPTHS", "DEFAULT_HEADS", "DEFAULT_MLP_RATIOS", "DEFAULT_PATCH_SIZES", "DEFAULT_WIDTHS",
           "ViTSpace"]
