"""NAS-Bench-201 cells: the string form, validation and the isomorphism key.

A cell is a DAG on nodes 0..3 with one operation on each of the six edges
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. Its string form lists node 1's inputs, then node 2's,
then node 3's: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (Dong and Yang, "NAS-Bench-201:
Extending the Scope of Reproducible Neural Architecture Search", ICLR 2020).
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

# (target node, source node) of each edge, in the order of the string form.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES: tuple[str, ...] = tuple(f"{target}<-{source}" for target, source in EDGES)

Cell = tuple[str, str, str, str, str, str]


def format_cell(cell: Cell) -> str:
    """Return the NAS-Bench-201 string of ``cell``."""
    groups = []
    for target in (1, 2, 3):
        tokens = [f"{op}~{source}" for (t, source), op in zip(EDGES, cell) if t == target]
        groups.append("|" + "|".join(tokens) + "|")
    return "+".join(groups)


def _check_operation(op: Any, where: str) -> str:
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r} on edge {where}; valid operations: {', '.join(OPERATIONS)}")
    return op


def parse_cell_string(text: str) -> Cell:
    """Parse a NAS-Bench-201 cell string.

    Raises:
        ValueError: If the string has the wrong number of nodes or inputs, an unknown
            operation or an input index that the node cannot have.
    """
    stripped = text.strip()
    groups = stripped.split("+")
    if len(groups) != 3 or not all(g.startswith("|") and g.endswith("|") and len(g) > 1 for g in groups):
        raise ValueError(
            f"invalid NAS-Bench-201 cell {text!r}: expected 3 nodes written as "
            f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|', got {len(groups)} part(s) separated by '+'")

    cell: list[str] = []
    for target, group in zip((1, 2, 3), groups):
        tokens = group[1:-1].split("|")
        if len(tokens) != target:
            raise ValueError(f"invalid NAS-Bench-201 cell {text!r}: node {target} must have {target} input(s) "
                             f"(from nodes 0..{target - 1}), got {len(tokens)} in {group!r}")
        for expected_source, token in enumerate(tokens):
            op, separator, source = token.partition("~")
            if not separator or not source.isdigit():
                raise ValueError(f"invalid edge token {token!r} in cell {text!r}: expected 'operation~input', "
                                 f"for example 'nor_conv_3x3~{expected_source}'")
            if int(source) != expected_source:
                raise ValueError(f"invalid input index {source} in token {token!r} of cell {text!r}: "
                                 f"input {expected_source + 1} of node {target} must come from node {expected_source}; "
                                 f"valid indices for node {target}: {list(range(target))}")
            cell.append(_check_operation(op, f"{target}<-{expected_source}"))
    return tuple(cell)  # type: ignore[return-value]


def _edge_index(key: Any) -> int:
    if isinstance(key, tuple) and key in EDGES:
        return EDGES.index(key)
    if isinstance(key, str):
        normalized = key.replace(" ", "")
        if normalized in EDGE_NAMES:
            return EDGE_NAMES.index(normalized)
    raise ValueError(f"invalid edge {key!r}; valid edges: {', '.join(EDGE_NAMES)} "
                     f"(or the tuples (target, source) {list(EDGES)})")


def parse_cell_mapping(edges: Mapping[Any, Any]) -> Cell:
    """Parse a mapping from edge ("2<-1" or (2, 1)) to operation, in any key order.

    Raises:
        ValueError: If an edge is unknown, given twice or missing, or an operation is unknown.
    """
    cell: list[str | None] = [None] * len(EDGES)
    for key, op in edges.items():
        index = _edge_index(key)
        if cell[index] is not None:
            raise ValueError(f"edge {EDGE_NAMES[index]} is given twice (last key {key!r})")
        cell[index] = _check_operation(op, EDGE_NAMES[index])
    missing = [name for name, op in zip(EDGE_NAMES, cell) if op is None]
    if missing:
        raise ValueError(f"missing edges {missing}; a NAS-Bench-201 cell needs all of {', '.join(EDGE_NAMES)}")
    return tuple(cell)  # type: ignore[return-value]


def canonical_key(cell: Cell) -> str:
    """Return NAS-Bench-201's isomorphism key of ``cell``.

    Each node is written as an expression of the input ``0``: ``skip_connect`` passes its
    input's expression unchanged, ``none`` and any operation on a zero input give the zero
    term ``#``, another operation gives ``(input)@operation``, and a node joins the sorted
    terms of its inputs with ``+``. This is the encoding of the benchmark's own
    de-duplication, and the exact string form matters: zero terms stay in a sum, and a sum
    passed through ``skip_connect`` is sorted as one term, so changing the encoding changes
    the class count. It yields the benchmark's 6,466 classes over the 15,625 cells. Cells
    with equal keys compute the same function; a few cells with different keys do too
    (``x + 0`` and ``x``).
    """
    nodes = {0: "0"}
    for target in (1, 2, 3):
        terms = []
        for (edge_target, source), op in zip(EDGES, cell):
            if edge_target != target:
                continue
            if op == "none" or nodes[source] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[source])
            else:
                terms.append(f"({nodes[source]})@{op}")
        nodes[target] = "+".join(sorted(terms))
    return nodes[3]


def distinct_cells() -> list[Cell]:
    """Return one cell per isomorphism class: 6,466 cells, each the first of its class in edge-product order.

    Scoring these covers the whole space once. Cells of one class build the same function,
    and ``archsearch`` seeds their weights from the canonical key, so a search scores each
    class once.
    """
    representatives: dict[str, Cell] = {}
    for cell in itertools.product(OPERATIONS, repeat=len(EDGES)):
        representatives.setdefault(canonical_key(cell), cell)  # type: ignore[arg-type]
    return list(representatives.values())
