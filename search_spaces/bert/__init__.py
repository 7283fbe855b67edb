"""BERT student space: layers, hidden size, heads and MLP ratio, with the AutoDistil presets."""

from search_spaces.bert.presets import PRESETS, BertPreset, effective_hidden_size, intermediate_size
from search_spaces.bert.space import BertSpace

__all__ = ["PRESETS", "BertPreset", "BertSpace", "effective_hidden_size", "intermediate_size"]
