"""CIFAR ResNet and timm ResNet spaces: string and mapping forms, validation, mutation, built networks."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
from timm.models.resnet import ResNet

import search_spaces
from archsearch.proxies import Batch, TeacherOutputs
from archsearch import proxies
from search_spaces.cost import count_flops, count_parameters
from search_spaces.resnet_cifar import CifarResNet, ResNetCifarSpace, build_cifar_resnet
from search_spaces.timm_cnn import TimmResNetSpace

RESNET20_LIKE = "d2-6-10_w16-32-64"


@pytest.fixture(scope="module")
def cifar_space():
    return search_spaces.create("resnet_cifar")


@pytest.fixture(scope="module")
def timm_space():
    return search_spaces.create("timm_resnet", num_classes=10, input_size=32)


@pytest.fixture(scope="module")
def tiny_cifar_space():
    # Few channels and 16x16 inputs keep forward passes fast on a shared CPU.
    return search_spaces.create("resnet_cifar", depths=(1, 2, 3), widths=((4, 8), (8,), (16,)), num_classes=5,
                                input_size=16)


def test_registry_creates_both_spaces():
    assert {"resnet_cifar", "timm_resnet"} <= set(search_spaces.list())
    assert isinstance(search_spaces.create("resnet_cifar"), ResNetCifarSpace)
    assert isinstance(search_spaces.create("timm_resnet"), TimmResNetSpace)


def test_default_cifar_space_has_64_students(cifar_space):
    assert cifar_space.size == 64
    dimensions = {dimension.name: dimension.choices for dimension in cifar_space.dimensions()}
    assert dimensions == {"depth1": (2, 6, 10, 14), "depth2": (2, 6, 10, 14), "depth3": (2, 6, 10, 14),
                          "width1": (16,), "width2": (32,), "width3": (64,)}
    assert cifar_space.input_shape == (3, 32, 32)
    assert cifar_space.num_classes == 10


def test_default_timm_space_size():
    space = search_spaces.create("timm_resnet")
    assert space.size == 5 ** 4 * 3 * 2
    assert [dimension.name for dimension in space.dimensions()] == ["depth1", "depth2", "depth3", "depth4", "width",
                                                                    "block"]
    assert space.input_shape == (3, 224, 224)
    assert space.num_classes == 1000


def test_cifar_round_trip_all_students(cifar_space):
    keys = set()
    for depths in itertools.product((2, 6, 10, 14), repeat=3):
        text = f"d{depths[0]}-{depths[1]}-{depths[2]}_w16-32-64"
        arch = cifar_space.parse(text)
        assert arch == (*depths, 16, 32, 64)
        assert cifar_space.format(arch) == text
        assert cifar_space.canonical(text) == text
        keys.add(cifar_space.canonical(arch))
    assert len(keys) == 64


def test_timm_round_trip_samples(timm_space):
    rng = random.Random(0)
    archs = {timm_space.sample(rng) for _ in range(300)}
    keys = set()
    for arch in archs:
        text = timm_space.format(arch)
        assert timm_space.parse(text) == arch
        assert timm_space.canonical(arch) == text
        keys.add(timm_space.canonical(arch))
    assert len(keys) == len(archs)
    assert timm_space.format((3, 4, 6, 3, 64, "bottleneck")) == "d3-4-6-3_w64_bottleneck"


def test_parse_strips_whitespace(cifar_space):
    assert cifar_space.parse(f"  {RESNET20_LIKE}\n") == cifar_space.parse(RESNET20_LIKE)


def test_mapping_form_any_order(cifar_space, timm_space):
    mapping = {"width3": 64, "depth1": 2, "width1": 16, "depth3": 10, "depth2": 6, "width2": 32}
    assert cifar_space.format(mapping) == RESNET20_LIKE
    timm_mapping = {"block": "basic", "width": 64, "depth4": 2, "depth3": 2, "depth2": 2, "depth1": 2}
    assert timm_space.format(timm_mapping) == "d2-2-2-2_w64_basic"


def test_sequence_and_numpy_values(cifar_space):
    assert cifar_space.parse([2, 6, 10, 16, 32, 64]) == (2, 6, 10, 16, 32, 64)
    parsed = cifar_space.parse({"depth1": np.int64(2), "depth2": 6, "depth3": 10, "width1": 16, "width2": 32,
                                "width3": 64})
    assert parsed == (2, 6, 10, 16, 32, 64)
    assert all(type(value) is int for value in parsed)


def test_from_dimensions_rebuilds_arch(cifar_space, timm_space):
    for space in (cifar_space, timm_space):
        arch = space.sample(random.Random(5))
        values = {dimension.name: value for dimension, value in zip(space.dimensions(), arch)}
        assert space.from_dimensions(values) == arch


@pytest.mark.parametrize("spec, message", [
    ("d2-6-11_w16-32-64", r"invalid depth3 11 .*valid choices for depth3 .*: 2, 6, 10, 14"),
    ("d3-6-10_w16-32-64", r"invalid depth1 3"),
    ("d2-6-10_w16-32-128", r"invalid width3 128 .*valid choices for width3 .*: 64"),
    ("d2-6-10", r"expected the form d<depth1>-<depth2>-<depth3>_w<width1>-<width2>-<width3>"),
    ("d2-6-10-14_w16-32-64", r"expected the form"),
    ("D2-6-10_W16-32-64", r"expected the form"),
    ("d2-6-10_w16-32-64_basic", r"expected the form"),
    ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"invalid resnet_cifar architecture"),
    ({"depth1": 2, "depth2": 6, "depth3": 10, "width1": 16, "width2": 32}, r"missing resnet_cifar decision\(s\) "
                                                                           r"width3"),
    ({"depth1": 2, "depth2": 6, "depth3": 10, "depth4": 2, "width1": 16, "width2": 32, "width3": 64},
     r"unknown resnet_cifar decision\(s\) 'depth4'; valid decisions: depth1"),
    ({"depth1": True, "depth2": 6, "depth3": 10, "width1": 16, "width2": 32, "width3": 64}, r"invalid depth1 True"),
    ({"depth1": "2", "depth2": 6, "depth3": 10, "width1": 16, "width2": 32, "width3": 64}, r"invalid depth1 '2'"),
    ((2, 6, 10), r"cannot read a resnet_cifar architecture"),
    (None, r"cannot read a resnet_cifar architecture"),
])
def test_cifar_bad_specs_name_field(cifar_space, spec, message):
    with pytest.raises(ValueError, match=message):
        cifar_space.parse(spec)


@pytest.mark.parametrize("spec, message", [
    ("d2-2-2-2_w64_resnext", r"invalid block 'resnext' .*valid choices for block .*: basic, bottleneck"),
    ("d2-2-2-5_w64_basic", r"invalid depth4 5 .*: 1, 2, 3, 4, 6"),
    ("d2-2-2-2_w16_basic", r"invalid width 16 .*: 32, 48, 64"),
    ("d2-2-2_w64_basic", r"expected the form d<depth1>-<depth2>-<depth3>-<depth4>_w<width>_<block>"),
    ("resnet18", r"expected the form"),
    ({"depth1": 2, "depth2": 2, "depth3": 2, "depth4": 2, "width": 64}, r"missing timm_resnet decision\(s\) block"),
])
def test_timm_bad_specs_name_field(timm_space, spec, message):
    with pytest.raises(ValueError, match=message):
        timm_space.parse(spec)


@pytest.mark.parametrize("name, options, message", [
    ("resnet_cifar", {"bogus": 1}, r"unknown option\(s\) 'bogus' for search space 'resnet_cifar'; valid options: "
                                   r"depths, widths"),
    ("resnet_cifar", {"depths": ()}, r"depths must be a sequence of positive integers"),
    ("resnet_cifar", {"depths": (2, 2)}, r"depths lists 2 more than once"),
    ("resnet_cifar", {"depths": (0, 2)}, r"each choice of depths must be a positive integer, got 0"),
    ("resnet_cifar", {"depths": "2,6"}, r"depths must be a sequence"),
    ("resnet_cifar", {"widths": ((16,), (32,))}, r"widths must be one sequence .* or exactly 3 sequences"),
    ("resnet_cifar", {"widths": ((16,), 32, (64,))}, r"widths must be one sequence"),
    ("resnet_cifar", {"widths": ((16,), (), (64,))}, r"widths of stage 2 must be a non-empty sequence"),
    ("resnet_cifar", {"num_classes": 0}, r"num_classes must be a positive integer, got 0"),
    ("resnet_cifar", {"input_size": 1.5}, r"input_size must be a positive integer, got 1.5"),
    ("timm_resnet", {"bogus": 1}, r"unknown option\(s\) 'bogus' for search space 'timm_resnet'"),
    ("timm_resnet", {"blocks": ("basic", "resnext")}, r"unknown block type\(s\) 'resnext'; valid block types: "
                                                      r"basic, bottleneck"),
    ("timm_resnet", {"blocks": "basic"}, r"blocks must be a non-empty sequence"),
    ("timm_resnet", {"blocks": ("basic", "basic")}, r"blocks lists a block type more than once"),
    ("timm_resnet", {"depths": ((1,), (2,), (3,))}, r"exactly 4 sequences"),
    ("timm_resnet", {"widths": ((32,), (64,))}, r"each choice of widths must be a positive integer"),
    ("timm_resnet", {"zero_init_last": 1}, r"zero_init_last must be True or False, got 1"),
])
def test_invalid_space_options(name, options, message):
    with pytest.raises(ValueError, match=message):
        search_spaces.create(name, **options)


def test_config_survives_json(tiny_cifar_space, timm_space):
    for name, space in (("resnet_cifar", tiny_cifar_space), ("resnet_cifar", search_spaces.create("resnet_cifar")),
                        ("timm_resnet", timm_space)):
        config = json.loads(json.dumps(space.config()))
        assert config == space.config()
        recreated = search_spaces.create(name, **config)
        assert recreated.config() == space.config()
        assert recreated.dimensions() == space.dimensions()


def test_per_stage_widths_option(tiny_cifar_space):
    assert tiny_cifar_space.size == 3 ** 3 * 2
    assert tiny_cifar_space.dimensions()[3].choices == (4, 8)
    assert tiny_cifar_space.config()["widths"] == [[4, 8], [8], [16]]
    assert tiny_cifar_space.config()["depths"] == [1, 2, 3]


@pytest.mark.parametrize("space_name", ["resnet_cifar", "timm_resnet"])
def test_mutate_changes_one_decision(space_name):
    space = search_spaces.create(space_name)
    rng = random.Random(0)
    for _ in range(300):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch, child)) == 1
        space.parse(child)


def test_mutate_leaves_fixed_widths(cifar_space):
    rng = random.Random(1)
    arch = cifar_space.parse(RESNET20_LIKE)
    for _ in range(50):
        arch = cifar_space.mutate(arch, rng)
        assert arch[3:] == (16, 32, 64)


@pytest.mark.parametrize("space_name", ["resnet_cifar", "timm_resnet"])
def test_sample_and_mutate_seeded(space_name):
    space = search_spaces.create(space_name)

    def walk(seed):
        rng = random.Random(seed)
        arch = space.sample(rng)
        steps = [arch]
        for _ in range(10):
            arch = space.mutate(arch, rng)
            steps.append(arch)
        return steps

    assert walk(7) == walk(7)
    assert walk(7) != walk(8)


def test_sample_covers_default_cifar_space(cifar_space):
    rng = random.Random(0)
    seen = {cifar_space.sample(rng) for _ in range(2000)}
    assert len(seen) == 64


def test_mutate_single_arch_space_raises():
    space = search_spaces.create("resnet_cifar", depths=(3,))
    assert space.size == 1
    with pytest.raises(ValueError, match="single architecture, so it cannot be mutated"):
        space.mutate(space.sample(random.Random(0)), random.Random(0))


@pytest.mark.parametrize("arch", ["d1-1-1_w4-8-16", "d3-2-1_w8-8-16", "d2-3-3_w4-8-16"])
def test_cifar_forward_shapes(tiny_cifar_space, arch):
    model = tiny_cifar_space.build(arch).eval()
    inputs = torch.randn(4, *tiny_cifar_space.input_shape)
    with torch.no_grad():
        logits = model(inputs)
        features = model.forward_features(inputs)
        embedding = model.forward_head(features, pre_logits=True)
        stages = model.forward_stages(inputs)
    assert logits.shape == (4, 5)
    assert features.shape == (4, model.num_features, 4, 4)
    assert embedding.shape == (4, model.num_features)
    assert model.num_features == model.feature_info[-1]["num_chs"]
    assert isinstance(model.get_classifier(), nn.Linear)
    assert len(stages) == len(model.feature_info) == 3
    for output, info in zip(stages, model.feature_info):
        assert output.shape == (4, info["num_chs"], 16 // info["reduction"], 16 // info["reduction"])
        assert isinstance(model.get_submodule(info["module"]), nn.Sequential)
    assert torch.equal(stages[-1], features)


def test_cifar_block_counts(tiny_cifar_space):
    model = tiny_cifar_space.build("d3-2-1_w8-8-16")
    assert [len(stage) for stage in model.stages] == [3, 2, 1]
    assert [info["num_chs"] for info in model.feature_info] == [8, 8, 16]


def test_cifar_build_num_classes_override(tiny_cifar_space):
    model = tiny_cifar_space.build("d1-1-1_w4-8-16", num_classes=7)
    assert model.get_classifier().out_features == 7
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        tiny_cifar_space.build("d1-1-1_w4-8-16", num_classes=0)


def test_cifar_params_grow_with_depth(cifar_space):
    chain = ["d2-2-2_w16-32-64", "d6-2-2_w16-32-64", "d6-6-2_w16-32-64", "d6-6-10_w16-32-64", "d14-14-14_w16-32-64"]
    counts = [count_parameters(cifar_space.build(arch)) for arch in chain]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts)


def test_timm_params_grow_with_depth(timm_space):
    chain = ["d1-1-1-1_w32_basic", "d2-1-1-1_w32_basic", "d2-2-2-1_w32_basic", "d2-2-2-2_w32_basic"]
    counts = [count_parameters(timm_space.build(arch)) for arch in chain]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts)


def test_cifar_minimum_cost(cifar_space):
    smallest = cifar_space.minimum_cost()
    expected = cifar_space.cost("d2-2-2_w16-32-64")
    assert smallest == expected
    for arch in ["d6-2-2_w16-32-64", "d14-14-14_w16-32-64"]:
        cost = cifar_space.cost(arch)
        assert cost["params"] > smallest["params"]
        assert cost["flops"] > smallest["flops"]


def test_cifar_minimum_cost_uses_smallest_widths(tiny_cifar_space):
    assert tiny_cifar_space.minimum_cost(num_classes=3) == tiny_cifar_space.cost("d1-1-1_w4-8-16", num_classes=3)


def test_timm_minimum_cost_bounds_samples():
    space = search_spaces.create("timm_resnet", depths=(1, 2), widths=(8, 16), num_classes=10, input_size=32)
    smallest = space.minimum_cost()
    rng = random.Random(0)
    for _ in range(6):
        cost = space.cost(space.sample(rng))
        assert cost["params"] >= smallest["params"]
        assert cost["flops"] >= smallest["flops"]
    basic = space.cost("d1-1-1-1_w8_basic")
    bottleneck = space.cost("d1-1-1-1_w8_bottleneck")
    assert smallest == {"params": min(basic["params"], bottleneck["params"]),
                        "flops": min(basic["flops"], bottleneck["flops"])}


def test_build_cifar_resnet_teacher():
    teacher = build_cifar_resnet(110, num_classes=100)
    assert [len(stage) for stage in teacher.stages] == [18, 18, 18]
    space = search_spaces.create("resnet_cifar", depths=(18,), num_classes=100)
    assert space.size == 1
    same = space.build("d18-18-18_w16-32-64")
    assert count_parameters(same) == count_parameters(teacher)
    resnet20 = build_cifar_resnet(20, num_classes=10)
    assert [len(stage) for stage in resnet20.stages] == [3, 3, 3]


@pytest.mark.parametrize("depth", [21, 2, 0])
def test_build_cifar_resnet_bad_depth(depth):
    with pytest.raises(ValueError, match=f"6n \\+ 2 layers|positive integer, got {depth}"):
        build_cifar_resnet(depth)


def test_cifar_network_checks_stage_count():
    with pytest.raises(ValueError, match="a CIFAR ResNet has 3 stages"):
        CifarResNet(depths=(1, 1), widths=(8, 16), num_classes=10)


@pytest.mark.parametrize("arch, num_features", [("d1-1-1-1_w32_basic", 256), ("d1-2-1-1_w48_bottleneck", 1536)])
def test_timm_forward_shapes(timm_space, arch, num_features):
    model = timm_space.build(arch).eval()
    assert isinstance(model, ResNet)
    assert model.num_features == num_features
    assert model.feature_info[-1]["num_chs"] == num_features
    inputs = torch.randn(2, *timm_space.input_shape)
    with torch.no_grad():
        features = model.forward_features(inputs)
        logits = model.forward_head(features)
        embedding = model.forward_head(features, pre_logits=True)
    assert features.shape == (2, num_features, 1, 1)
    assert logits.shape == (2, 10)
    assert embedding.shape == (2, num_features)
    assert isinstance(model.get_classifier(), nn.Linear)


def test_timm_input_size_64():
    space = search_spaces.create("timm_resnet", num_classes=3, input_size=64, in_channels=1)
    model = space.build("d1-1-1-1_w32_basic").eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 1, 64, 64))
    assert features.shape == (2, 256, 2, 2)


@pytest.mark.parametrize("arch, timm_name", [("d2-2-2-2_w64_basic", "resnet18"),
                                             ("d3-4-6-3_w64_bottleneck", "resnet50")])
def test_timm_arch_matches_named_model(timm_space, arch, timm_name):
    ours = timm_space.build(arch).state_dict()
    reference = timm.create_model(timm_name, pretrained=False, num_classes=10).state_dict()
    assert {key: value.shape for key, value in ours.items()} == {key: value.shape for key, value in reference.items()}


def test_timm_zero_init_last_option(timm_space):
    default = timm_space.build("d1-1-1-1_w32_basic")
    assert default.layer1[0].bn2.weight.abs().sum() > 0
    zeroed = search_spaces.create("timm_resnet", input_size=32, zero_init_last=True).build("d1-1-1-1_w32_basic")
    assert zeroed.layer1[0].bn2.weight.abs().sum() == 0


def test_flops_scale_with_input_area():
    small = search_spaces.create("resnet_cifar", input_size=16)
    full = search_spaces.create("resnet_cifar")
    quarter = count_flops(small.build(RESNET20_LIKE), small.input_shape)
    whole = count_flops(full.build(RESNET20_LIKE), full.input_shape)
    # Only the classifier does not scale with the input area.
    assert quarter == pytest.approx(whole / 4, rel=0.01)


@pytest.fixture(scope="module")
def proxy_batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(8, 3, 16, 16, generator=generator), torch.randint(0, 5, (8,), generator=generator))


@pytest.mark.parametrize("proxy_name", ["diswot", "nwot"])
def test_proxies_score_cifar_student(tiny_cifar_space, proxy_batch, proxy_name):
    torch.manual_seed(0)
    teacher = tiny_cifar_space.build("d3-2-3_w8-8-16")
    student = tiny_cifar_space.build("d1-1-1_w4-8-16")
    teacher_outputs = TeacherOutputs.compute(teacher, proxy_batch)
    result = proxies.create(proxy_name).score(student, proxy_batch, teacher_outputs)
    assert math.isfinite(result.value)


def test_nwot_scores_timm_student(proxy_batch):
    space = search_spaces.create("timm_resnet", widths=(8,), num_classes=5, input_size=16)
    torch.manual_seed(0)
    result = proxies.create("nwot").score(space.build("d1-1-1-1_w8_basic"), proxy_batch)
    assert math.isfinite(result.value)
