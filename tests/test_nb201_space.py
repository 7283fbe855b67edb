"""NAS-Bench-201 space: string form, validation, canonical keys, the built network and its size."""

from __future__ import annotations

import csv
import itertools
import random

import pytest
import torch

import search_spaces
from search_spaces.cost import count_flops, count_parameters
from search_spaces.nb201 import EDGE_NAMES, OPERATIONS

BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201")


def test_registry_lists_and_creates():
    assert "nb201" in search_spaces.list()
    assert search_spaces.create("nb201", num_classes=100).num_classes == 100


def test_registry_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown search space 'darts'.*nb201"):
        search_spaces.create("darts")


def test_string_round_trip_all_cells(space):
    for cell in itertools.islice(itertools.product(OPERATIONS, repeat=6), 0, None, 97):
        text = space.format(cell)
        assert space.parse(text) == cell
        assert space.format(space.parse(text)) == text


def test_mapping_any_key_order(space):
    cell = space.parse(BEST_CIFAR10)
    mapping = dict(zip(EDGE_NAMES, cell))
    shuffled = dict(reversed(list(mapping.items())))
    assert space.parse(shuffled) == cell
    tuple_keys = {(int(name[0]), int(name[-1])): op for name, op in mapping.items()}
    assert space.parse(tuple_keys) == cell


@pytest.mark.parametrize("text, message", [
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'.*valid operations: none"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "invalid input index 1.*valid indices for node 1: \\[0\\]"),
    ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "invalid input index 2"),
    ("|none~0|+|none~0|none~1|", "expected 3 nodes"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2 input"),
    ("|none-0|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'operation~input'"),
    ("resnet:2-2-2", "not a NAS-Bench-201 cell string"),
    ("Genotype(normal=[('sep_conv_3x3', 0)])", "expected 3 nodes|not a NAS-Bench-201"),
])
def test_malformed_strings_raise(space, text, message):
    with pytest.raises(ValueError, match=message):
        space.parse(text)


def test_mapping_errors_name_edge(space):
    good = dict(zip(EDGE_NAMES, ["none"] * 6))
    with pytest.raises(ValueError, match="invalid edge '4<-0'"):
        space.parse({**good, "4<-0": "none"})
    missing = dict(good)
    del missing["3<-2"]
    with pytest.raises(ValueError, match=r"missing edges \['3<-2'\]"):
        space.parse(missing)
    with pytest.raises(ValueError, match="unknown operation 'max_pool'"):
        space.parse({**good, "2<-1": "max_pool"})


def test_canonical_key_count_is_6466(space):
    keys = {space.canonical(cell) for cell in itertools.product(OPERATIONS, repeat=6)}
    assert len(keys) == 6466


def test_canonical_merges_dead_edges(space):
    # Node 1 receives nothing, so the convolution on 2<-1 and 3<-1 cannot change the output.
    dead = "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    other = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert space.canonical(dead) == space.canonical(other)
    assert space.canonical(dead) != space.canonical(BEST_CIFAR10)


def test_equal_keys_give_equal_outputs(space):
    dead = "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    other = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    first, second = space.build(dead).eval(), space.build(other).eval()
    # Copy the shared live weights: the two networks differ only in edges that cannot reach the output.
    shared = {k: v for k, v in first.state_dict().items() if k in second.state_dict()
              and second.state_dict()[k].shape == v.shape}
    second.load_state_dict(shared, strict=False)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(first(x), second(x), atol=1e-6)


def test_sample_and_mutate_change_one_edge(space):
    rng = random.Random(0)
    for _ in range(200):
        cell = space.sample(rng)
        child = space.mutate(cell, rng)
        assert sum(a != b for a, b in zip(cell, child)) == 1


def test_sample_is_seeded(space):
    first = [space.sample(random.Random(3)) for _ in range(3)]
    second = [space.sample(random.Random(3)) for _ in range(3)]
    assert first == second


def test_dimensions_rebuild_arch(space):
    dimensions = space.dimensions()
    assert [d.name for d in dimensions] == list(EDGE_NAMES)
    assert space.size == 15625
    cell = space.parse(BEST_CIFAR10)
    assert space.from_dimensions(dict(zip(EDGE_NAMES, cell))) == cell


@pytest.mark.parametrize("input_size, num_classes", [(32, 10), (32, 100), (16, 120), (16, 7)])
def test_build_input_sizes_and_classes(input_size, num_classes):
    space = search_spaces.create("nb201", num_classes=num_classes, input_size=input_size)
    model = space.build(BEST_CIFAR10).eval()
    logits = model(torch.randn(2, *space.input_shape))
    assert logits.shape == (2, num_classes)
    assert model.forward_features(torch.randn(2, *space.input_shape)).shape == (2, 64, input_size // 4, input_size // 4)


def test_flops_of_16px_input_are_a_quarter(space):
    small = search_spaces.create("nb201", input_size=16)
    full = count_flops(space.build(BEST_CIFAR10), space.input_shape)
    quarter = count_flops(small.build(BEST_CIFAR10), small.input_shape)
    assert quarter == pytest.approx(full / 4, rel=0.02)


@pytest.mark.parametrize("options", [{}, {"input_size": 16, "num_classes": 120},
                                     {"channels": 8, "cells_per_stage": 2, "input_size": 20, "in_channels": 1}])
def test_closed_form_flops_match_count(options):
    space = search_spaces.create("nb201", **options)
    # Every operation on every edge, so a wrong per-operation term cannot cancel out.
    cells = [tuple(OPERATIONS[(edge + shift) % len(OPERATIONS)] for edge in range(6)) for shift in range(5)]
    cells += [space.sample(random.Random(seed)) for seed in range(10)]
    for cell in cells:
        counted = count_flops(space.build(cell), space.input_shape)
        assert space.flops_from_definition(cell, space.input_shape) == counted, cell
        assert space.cost(cell)["flops"] == counted
    assert space.flops_from_definition(cells[0], space.input_shape, num_classes=7) == count_flops(
        space.build(cells[0], num_classes=7), space.input_shape)


def test_closed_form_flops_none_when_unrunnable(space):
    # A 33-pixel side gives 17 pixels after the strided convolution but 16 after the pooled shortcut.
    assert space.flops_from_definition(BEST_CIFAR10, (3, 33, 33)) is None
    assert space.flops_from_definition(BEST_CIFAR10, (1, 32, 32)) is None


def test_invalid_space_options():
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        search_spaces.create("nb201", num_classes=0)
    with pytest.raises(ValueError, match="unknown option.*'width'.*valid options: num_classes"):
        search_spaces.create("nb201", width=3)


def test_params_match_benchmark_table(space, shared_data):
    with open(shared_data / "nb201" / "nb201_accuracy.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    sample = random.Random(2024).sample(rows, 600)
    within = 0
    for row in sample:
        exact = count_parameters(space.build(row["arch"])) / 1e6
        if abs(exact - float(row["params_mb_cifar10"])) <= 0.01 * float(row["params_mb_cifar10"]):
            within += 1
    assert within / len(sample) >= 0.98
