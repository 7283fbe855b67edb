"""NAS-Bench-201 cell search space."""

from search_spaces.nb201.cell import EDGE_NAMES, EDGES, OPERATIONS, canonical_key, distinct_cells, format_cell
from search_spaces.nb201.network import NB201Network
from search_spaces.nb201.space import DATASET_INPUT_SIZES, NB201Space

__all__ = ["DATASET_INPUT_SIZES", "EDGES", "EDGE_NAMES", "NB201Network", "NB201Space", "OPERATIONS",
           "canonical_key", "distinct_cells", "format_cell"]
