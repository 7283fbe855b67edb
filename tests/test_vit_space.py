"""ViT space and ViT feature access: string and mapping forms, validation, sampling, tokens, cross-family proxies."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn as nn
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer

import search_spaces
from archsearch import proxies
from archsearch.evaluator import Evaluator
from archsearch.features import (extract_features, prefix_token_count, stage_features,
                                 tokens_to_feature_map)
from archsearch.proxies import Batch, TeacherOutputs
from search_spaces.cost import count_flops, count_parameters
from search_spaces.vit import ViTSpace

NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TEACHER_PROXIES = ("diswot", "diswot_semantic", "diswot_relation", "cka", "kernel_cka", "minibatch_cka")


@pytest.fixture(scope="module")
def default_space():
    return search_spaces.create("vit")


@pytest.fixture(scope="module")
def tiny_space():
    # Widths 16 and 32 are not divisible by 3 heads, so 7 of the 9 (width, heads) pairs are valid.
    return search_spaces.create("vit", depths=(1, 2), widths=(16, 24, 32), heads=(2, 3, 4), mlp_ratios=(1.0, 2.0),
                                patch_sizes=(8, 16), num_classes=10, input_size=32)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator))


def all_valid(space):
    choices = [dimension.choices for dimension in space.dimensions()]
    return [values for values in itertools.product(*choices) if values[1] % values[2] == 0]


def tiny_vit(**options) -> VisionTransformer:
    settings = dict(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=10)
    settings.update(options)
    return VisionTransformer(**settings)


def tiny_deit() -> VisionTransformerDistilled:
    return VisionTransformerDistilled(img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=10)


class TokenModel(nn.Module):
    """A token model without ``num_prefix_tokens`` or ``patch_embed``: 2 prefix tokens, then patch tokens."""

    def __init__(self, patches: int, width: int = 8) -> None:
        super().__init__()
        self.patches = patches
        self.embed = nn.Linear(3, width)
        self.head = nn.Linear(width, 10)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        tokens = self.embed(pooled)[:, None, :].expand(-1, self.patches + 2, -1)
        return tokens + torch.arange(self.patches + 2, dtype=x.dtype)[None, :, None]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x[:, 0] if pre_logits else self.head(x[:, 0])

    def get_classifier(self) -> nn.Module:
        return self.head


# Space definition and string form.

def test_registry_creates_vit_space():
    assert "vit" in search_spaces.list()
    assert isinstance(search_spaces.create("vit"), ViTSpace)


def test_default_space_size_and_dimensions(default_space):
    dimensions = {dimension.name: dimension.choices for dimension in default_space.dimensions()}
    assert dimensions == {"depth": (4, 6, 8, 12), "width": (192, 288, 384), "heads": (3, 4, 6),
                          "mlp_ratio": (2.0, 3.0, 4.0), "patch": (8, 16)}
    assert default_space.size == 4 * 3 * 3 * 3 * 2
    assert len(all_valid(default_space)) == default_space.size
    assert default_space.input_shape == (3, 224, 224)
    assert default_space.num_classes == 1000


def test_size_counts_only_valid_archs(tiny_space):
    assert tiny_space.size == 2 * 7 * 2 * 2
    assert len(all_valid(tiny_space)) == tiny_space.size


def test_round_trip_all_valid_archs(tiny_space):
    keys = set()
    for values in all_valid(tiny_space):
        text = tiny_space.format(values)
        assert tiny_space.parse(text) == values
        assert tiny_space.canonical(text) == text
        mapping = dict(zip(("depth", "width", "heads", "mlp_ratio", "patch"), values))
        assert tiny_space.parse(mapping) == values
        assert tiny_space.from_dimensions(mapping) == values
        keys.add(tiny_space.canonical(values))
    assert len(keys) == tiny_space.size


def test_string_form_examples(default_space):
    arch = default_space.parse("d12_w192_h3_m4.0_p16")
    assert arch == (12, 192, 3, 4.0, 16)
    assert default_space.format(arch) == "d12_w192_h3_m4.0_p16"
    assert default_space.format(default_space.parse("  d6_w384_h6_m3.0_p8\n")) == "d6_w384_h6_m3.0_p8"


def test_integer_ratio_accepted(default_space):
    assert default_space.parse("d4_w192_h3_m2_p8") == (4, 192, 3, 2.0, 8)
    assert default_space.format("d4_w192_h3_m2_p8") == "d4_w192_h3_m2.0_p8"
    mapping = {"patch": np.int64(16), "mlp_ratio": 4, "heads": 6, "width": 384, "depth": np.int32(12)}
    parsed = default_space.parse(mapping)
    assert parsed == (12, 384, 6, 4.0, 16)
    assert type(parsed[3]) is float
    assert all(type(value) is int for value in (parsed[0], parsed[1], parsed[2], parsed[4]))


def test_mapping_survives_json(tiny_space):
    arch = tiny_space.parse("d2_w24_h3_m1.0_p16")
    mapping = dict(zip(("depth", "width", "heads", "mlp_ratio", "patch"), arch))
    assert tiny_space.parse(json.loads(json.dumps(mapping))) == arch


@pytest.mark.parametrize("spec, message", [
    ("d3_w24_h2_m1.0_p8", r"invalid depth 3 .*valid choices for depth in this vit space: 1, 2"),
    ("d1_w20_h2_m1.0_p8", r"invalid width 20 .*: 16, 24, 32"),
    ("d1_w24_h6_m1.0_p8", r"invalid heads 6 .*: 2, 3, 4"),
    ("d1_w24_h2_m1.5_p8", r"invalid mlp_ratio 1.5 .*: 1.0, 2.0"),
    ("d1_w24_h2_m1.0_p4", r"invalid patch 4 .*: 8, 16"),
    ("d1_w16_h3_m1.0_p8", r"invalid heads 3 for width 16: the width must be divisible by the number of heads; "
                          r"head counts that divide width 16: 2, 4"),
    ("d1_w24_h2_m1.0", r"expected the form d<depth>_w<width>_h<heads>_m<mlp_ratio>_p<patch>, for example "
                       r"'d1_w16_h2_m1.0_p8'"),
    ("d1-w24-h2-m1.0-p8", r"expected the form"),
    ("D1_W24_H2_M1.0_P8", r"expected the form"),
    ("d1_w24_h2_m1._p8", r"expected the form"),
    ("vit_tiny_patch16_224", r"invalid vit architecture"),
    ({"depth": 1, "width": 24, "heads": 2, "mlp_ratio": 1.0}, r"missing vit decision\(s\) patch"),
    ({"depth": 1, "width": 24, "heads": 2, "mlp_ratio": 1.0, "patch": 8, "qkv_bias": True},
     r"unknown vit decision\(s\) 'qkv_bias'; valid decisions: depth, width, heads, mlp_ratio, patch"),
    ({"depth": True, "width": 24, "heads": 2, "mlp_ratio": 1.0, "patch": 8}, r"invalid depth True"),
    ({"depth": 1, "width": 24, "heads": 2, "mlp_ratio": True, "patch": 8}, r"invalid mlp_ratio True"),
    ({"depth": 1, "width": 24, "heads": 2, "mlp_ratio": "1.0", "patch": 8}, r"invalid mlp_ratio '1.0'"),
    ({"depth": 1, "width": 32, "heads": 3, "mlp_ratio": 1.0, "patch": 8}, r"invalid heads 3 for width 32"),
    ((1, 24, 2), r"cannot read a vit architecture"),
    (None, r"cannot read a vit architecture"),
])
def test_bad_specs_name_field(tiny_space, spec, message):
    with pytest.raises(ValueError, match=message):
        tiny_space.parse(spec)


def test_bad_width_without_divisor_message():
    space = search_spaces.create("vit", widths=(20, 24), heads=(3, 6), input_size=32, patch_sizes=(8,))
    with pytest.raises(ValueError, match=r"invalid heads 3 for width 20: .*no head count in this space divides "
                                         r"width 20"):
        space.parse("d4_w20_h3_m2.0_p8")


@pytest.mark.parametrize("options, message", [
    ({"bogus": 1}, r"unknown option\(s\) 'bogus' for search space 'vit'; valid options: depths, widths, heads"),
    ({"patch_sizes": (16, 12)}, r"patch size\(s\) 12 do not divide input_size 224"),
    ({"input_size": 30, "patch_sizes": (8,)}, r"patch size\(s\) 8 do not divide input_size 30"),
    ({"widths": (20, 28), "heads": (3, 6)}, r"no width in \[20, 28\] is divisible by any head count in \[3, 6\]"),
    ({"global_pool": "max"}, r"invalid global_pool 'max'; valid values: token, avg"),
    ({"mlp_ratios": (2.0, 2)}, r"mlp_ratios lists 2.0 more than once"),
    ({"mlp_ratios": (0.0,)}, r"each choice of mlp_ratios must be a positive finite number, got 0.0"),
    ({"mlp_ratios": (float("nan"),)}, r"each choice of mlp_ratios must be a positive finite number, got nan"),
    ({"mlp_ratios": (True,)}, r"each choice of mlp_ratios must be a positive finite number, got True"),
    ({"mlp_ratios": "4"}, r"mlp_ratios must be a non-empty sequence of positive numbers"),
    ({"heads": ()}, r"heads must be a non-empty sequence of positive integers"),
    ({"depths": (0, 4)}, r"each choice of depths must be a positive integer, got 0"),
    ({"num_classes": 0}, r"num_classes must be a positive integer, got 0"),
    ({"in_channels": 1.5}, r"in_channels must be a positive integer, got 1.5"),
])
def test_invalid_space_options(options, message):
    with pytest.raises(ValueError, match=message):
        search_spaces.create("vit", **options)


def test_config_survives_json(tiny_space, default_space):
    for space in (tiny_space, default_space, search_spaces.create("vit", global_pool="avg", in_channels=1)):
        config = json.loads(json.dumps(space.config()))
        assert config == space.config()
        recreated = search_spaces.create("vit", **config)
        assert recreated.config() == space.config()
        assert recreated.dimensions() == space.dimensions()


# Sampling and mutation.

def test_sample_covers_only_valid_archs(tiny_space):
    rng = random.Random(0)
    seen = {tiny_space.sample(rng) for _ in range(3000)}
    assert seen == set(all_valid(tiny_space))


def test_mutate_changes_one_decision_validly(tiny_space):
    rng = random.Random(0)
    arch = tiny_space.sample(rng)
    for _ in range(500):
        child = tiny_space.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch, child)) == 1
        assert child[1] % child[2] == 0
        assert tiny_space.parse(child) == child
        arch = child


def test_mutate_reaches_every_valid_neighbour(tiny_space):
    arch = tiny_space.parse("d1_w16_h2_m1.0_p8")
    rng = random.Random(3)
    children = {tiny_space.format(tiny_space.mutate(arch, rng)) for _ in range(400)}
    # Width 32 keeps 2 heads valid and 4 heads fits width 16, but 3 heads fits only width 24.
    assert children == {"d2_w16_h2_m1.0_p8", "d1_w24_h2_m1.0_p8", "d1_w32_h2_m1.0_p8", "d1_w16_h4_m1.0_p8",
                        "d1_w16_h2_m2.0_p8", "d1_w16_h2_m1.0_p16"}


def test_sample_and_mutate_seeded(tiny_space):
    def walk(seed):
        rng = random.Random(seed)
        arch = tiny_space.sample(rng)
        steps = [arch]
        for _ in range(10):
            arch = tiny_space.mutate(arch, rng)
            steps.append(arch)
        return steps

    assert walk(7) == walk(7)
    assert walk(7) != walk(8)


def test_mutate_without_valid_neighbour_raises():
    space = search_spaces.create("vit", depths=(2,), widths=(16,), heads=(2, 3), mlp_ratios=(2.0,),
                                 patch_sizes=(8,), input_size=32)
    assert space.size == 1
    with pytest.raises(ValueError, match=r"'d2_w16_h2_m2.0_p8' has no valid neighbour in this vit space"):
        space.mutate("d2_w16_h2_m2.0_p8", random.Random(0))


# Built networks and cost.

@pytest.mark.parametrize("text, grid", [("d1_w16_h2_m1.0_p8", 4), ("d2_w24_h3_m2.0_p16", 2)])
def test_build_matches_arch(tiny_space, text, grid):
    model = tiny_space.build(text).eval()
    assert isinstance(model, VisionTransformer)
    depth, width, heads, mlp_ratio, patch = tiny_space.parse(text)
    assert len(model.blocks) == depth
    assert model.embed_dim == width
    assert model.blocks[0].attn.num_heads == heads
    assert model.blocks[0].mlp.fc1.out_features == int(width * mlp_ratio)
    assert model.patch_embed.patch_size == (patch, patch)
    assert model.global_pool == "token"
    assert model.num_prefix_tokens == 1
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model(inputs).shape == (2, 10)
        assert model.forward_features(inputs).shape == (2, grid * grid + 1, width)


def test_build_options(tiny_space):
    assert tiny_space.build("d1_w16_h2_m1.0_p8", num_classes=3).get_classifier().out_features == 3
    space = search_spaces.create("vit", in_channels=1, input_size=48, patch_sizes=(16,), global_pool="avg",
                                 num_classes=5)
    model = space.build("d4_w192_h3_m2.0_p16").eval()
    assert model.global_pool == "avg"
    with torch.no_grad():
        assert model(torch.randn(1, 1, 48, 48)).shape == (1, 5)


def test_cost_and_minimum_cost(tiny_space):
    costs = [tiny_space.cost(values) for values in all_valid(tiny_space)]
    assert costs[0]["params"] == count_parameters(tiny_space.build(all_valid(tiny_space)[0]))
    minimum = tiny_space.minimum_cost()
    assert minimum["params"] == min(cost["params"] for cost in costs)
    assert minimum["flops"] == min(cost["flops"] for cost in costs)


def test_grasp_scores_vit_with_fused_attention(batch):
    torch.manual_seed(0)
    model = tiny_vit()
    # timm's attention calls the fused kernel, whose CPU backward has no second derivative.
    assert model.blocks[0].attn.fused_attn
    first = proxies.create("grasp").score(model, batch).value
    second = proxies.create("grasp").score(model, batch).value
    assert math.isfinite(first)
    assert first == second
    assert model.blocks[0].attn.fused_attn


def test_flops_count_attention_products():
    space = search_spaces.create("vit", input_size=32, patch_sizes=(8,), num_classes=10)
    arch = "d4_w192_h3_m2.0_p8"
    tokens = 1 + (32 // 8) ** 2
    # The hook count covers the layers; each block adds Q K^T and the product with V, tokens^2 x width each.
    layers = count_flops(space.build(arch), space.input_shape)
    assert space.flops_from_definition(arch, space.input_shape) == layers + 4 * 2 * tokens * tokens * 192
    assert space.cost(arch)["flops"] == layers + 4 * 2 * tokens * tokens * 192
    assert space.flops_from_definition(arch, (3, 64, 64)) is None


# Feature access for token models.

def test_vit_features_are_patch_tokens_on_grid(batch):
    torch.manual_seed(0)
    model = tiny_vit().eval()
    with torch.no_grad():
        tokens = model.forward_features(batch.inputs)
        features = extract_features(model, batch.inputs)
    assert tokens.shape == (8, 17, 16)
    assert features.feature_map.shape == (8, 16, 4, 4)
    assert features.embedding.shape == (8, 16)
    assert features.logits.shape == (8, 10)
    # Patch (row i, column j) is token 1 + 4 i + j, after the class token.
    assert torch.equal(features.feature_map[:, :, 1, 2], tokens[:, 1 + 4 * 1 + 2])
    assert torch.equal(features.feature_map[:, :, 3, 0], tokens[:, 1 + 4 * 3])
    assert torch.equal(features.embedding, tokens[:, 0])
    assert torch.allclose(features.logits, model(batch.inputs), atol=1e-6)


def test_vit_patch16_grid(tiny_space, batch):
    model = tiny_space.build("d1_w16_h2_m1.0_p16").eval()
    with torch.no_grad():
        assert extract_features(model, batch.inputs).feature_map.shape == (8, 16, 2, 2)


def test_register_token_drops_two_prefix_tokens(batch):
    model = tiny_vit(reg_tokens=1).eval()
    assert model.num_prefix_tokens == 2
    with torch.no_grad():
        tokens = model.forward_features(batch.inputs)
        features = extract_features(model, batch.inputs)
    assert tokens.shape == (8, 18, 16)
    assert features.feature_map.shape == (8, 16, 4, 4)
    assert torch.equal(features.feature_map[:, :, 0, 0], tokens[:, 2])
    assert torch.equal(features.feature_map[:, :, 3, 3], tokens[:, 17])


def test_distilled_deit_features(batch):
    torch.manual_seed(0)
    model = tiny_deit().eval()
    with torch.no_grad():
        tokens = model.forward_features(batch.inputs)
        features = extract_features(model, batch.inputs)
        expected_logits = model(batch.inputs)
    assert tokens.shape == (8, 18, 16)
    assert features.feature_map.shape == (8, 16, 4, 4)
    assert torch.equal(features.feature_map[:, :, 0, 0], tokens[:, 2])
    assert torch.allclose(features.embedding, (tokens[:, 0] + tokens[:, 1]) / 2)
    assert torch.allclose(features.logits, expected_logits, atol=1e-6)


def test_prefix_count_attribute_and_fallback():
    assert prefix_token_count(tiny_vit(), 17) == 1
    assert prefix_token_count(tiny_deit(), 18) == 2
    plain = nn.Linear(1, 1)
    assert prefix_token_count(plain, 197) == 1  # 224 / 16 with a class token
    assert prefix_token_count(plain, 198) == 2  # 224 / 16 with class and distillation tokens
    assert prefix_token_count(plain, 196) == 0


def test_prefix_count_invalid_attribute():
    model = tiny_vit()
    model.num_prefix_tokens = 17
    with pytest.raises(ValueError, match=r"num_prefix_tokens is 17, but its output has 17 tokens"):
        prefix_token_count(model, 17)


def test_token_model_without_attributes(batch):
    model = TokenModel(patches=9)
    features = extract_features(model, batch.inputs)
    assert features.feature_map.shape == (8, 8, 3, 3)
    tokens = model.forward_features(batch.inputs)
    assert torch.equal(features.feature_map[:, :, 0, 0], tokens[:, 2])


def test_token_model_without_square_grid_raises():
    model = nn.Linear(1, 1)
    model.num_prefix_tokens = 1
    with pytest.raises(ValueError, match=r"cannot arrange the 11 patch tokens of Linear \(tokens \(8, 12, 4\), "
                                         r"1 prefix tokens\) on a square grid"):
        tokens_to_feature_map(model, torch.zeros(8, 12, 4), (32, 32))


def test_token_grid_mismatch_names_shapes():
    model = tiny_vit()
    with pytest.raises(ValueError, match=r"VisionTransformer has a 4 x 4 patch grid for input \(32, 32\), but its "
                                         r"tokens \(2, 10, 16\) hold 9 patch tokens after 1 prefix tokens"):
        tokens_to_feature_map(model, torch.zeros(2, 10, 16), (32, 32))


def test_stage_features_vit_blocks(batch):
    model = tiny_vit(depth=3).eval()
    with torch.no_grad():
        all_blocks = stage_features(model, batch.inputs)
        chosen = stage_features(model, batch.inputs, indices=[0, -1])
        last = stage_features(model, batch.inputs, indices=1)
    assert [tuple(block.shape) for block in all_blocks] == [(8, 16, 4, 4)] * 3
    assert len(chosen) == 2
    assert torch.equal(chosen[0], all_blocks[0])
    assert torch.equal(chosen[1], all_blocks[2])
    assert torch.equal(last[0], all_blocks[2])


def test_stage_features_deit_and_cnn(batch):
    with torch.no_grad():
        deit_maps = stage_features(tiny_deit().eval(), batch.inputs)
        cnn = search_spaces.create("nb201", channels=8, cells_per_stage=1).build(NB201_CELL).eval()
        cnn_maps = stage_features(cnn, batch.inputs)
        last_two = stage_features(cnn, batch.inputs, indices=2)
        chosen = stage_features(cnn, batch.inputs, indices=[-1, 0])
    assert [tuple(m.shape) for m in deit_maps] == [(8, 16, 4, 4)]
    assert [tuple(m.shape) for m in cnn_maps] == [(8, 8, 32, 32), (8, 16, 16, 16), (8, 32, 8, 8)]
    assert [tuple(m.shape) for m in last_two] == [(8, 16, 16, 16), (8, 32, 8, 8)]
    assert [tuple(m.shape) for m in chosen] == [(8, 32, 8, 8), (8, 8, 32, 32)]


def test_stage_features_invalid_requests(batch):
    cnn = search_spaces.create("resnet_cifar", depths=(1,), widths=((4,), (8,), (16,))).build("d1-1-1_w4-8-16")
    with pytest.raises(ValueError, match=r"stage position\(s\) \[3\] out of range for 3 stages"):
        stage_features(cnn, batch.inputs, indices=[3])
    with pytest.raises(ValueError, match=r"cannot take the last 4 of 3 stages"):
        stage_features(cnn, batch.inputs, indices=4)
    with pytest.raises(ValueError, match=r"TokenModel has neither forward_intermediates nor forward_stages"):
        stage_features(TokenModel(patches=4), batch.inputs)


# Proxies across model families.

def build_nb201(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return search_spaces.create("nb201", channels=8, cells_per_stage=1).build(NB201_CELL)


def build_resnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    space = search_spaces.create("resnet_cifar", depths=(1,), widths=((4,), (8,), (16,)))
    return space.build("d1-1-1_w4-8-16")


def build_vit_student(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    space = search_spaces.create("vit", depths=(1,), widths=(24,), heads=(3,), mlp_ratios=(2.0,),
                                 patch_sizes=(8,), num_classes=10, input_size=32)
    return space.build("d1_w24_h3_m2.0_p8")


def build_vit_teacher(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return tiny_vit(embed_dim=32, patch_size=16, depth=2)


def build_deit_teacher(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return tiny_deit()


PAIRS = {
    "nb201_teacher_vit_student": (build_nb201, build_vit_student),
    "resnet_teacher_vit_student": (build_resnet, build_vit_student),
    "vit_teacher_nb201_student": (build_vit_teacher, build_nb201),
    "vit_teacher_resnet_student": (build_vit_teacher, build_resnet),
    "vit_teacher_vit_student": (build_vit_teacher, build_vit_student),
    "deit_teacher_vit_student": (build_deit_teacher, build_vit_student),
}


def create_proxy(name: str):
    return proxies.create(name, minibatch_size=8) if name == "minibatch_cka" else proxies.create(name)


def score_pair(pair: str, batch: Batch) -> dict[str, float]:
    build_teacher, build_student = PAIRS[pair]
    teacher_outputs = TeacherOutputs.compute(build_teacher(1), batch)
    student = build_student(2)
    return {name: create_proxy(name).score(student, batch, teacher_outputs).value for name in TEACHER_PROXIES}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_cross_family_scores_finite_and_seeded(pair, batch):
    first = score_pair(pair, batch)
    second = score_pair(pair, batch)
    for name in TEACHER_PROXIES:
        assert math.isfinite(first[name]), name
        assert first[name] == second[name], name


def test_cross_family_semantic_form(batch):
    teacher_outputs = TeacherOutputs.compute(build_nb201(1), batch)
    result = proxies.create("diswot").score(build_vit_student(2), batch, teacher_outputs)
    assert result.details["semantic_form"] == "class_gram"  # widths 32 and 24
    matching = TeacherOutputs.compute(build_vit_teacher(1), batch)
    wide_student = tiny_vit(embed_dim=32)
    assert proxies.create("diswot").score(wide_student, batch, matching).details["semantic_form"] == "channel"


def test_cross_family_scores_leave_student_unchanged(batch):
    teacher_outputs = TeacherOutputs.compute(build_nb201(1), batch)
    student = build_vit_student(2)
    before = {key: value.clone() for key, value in student.state_dict().items()}
    for name in TEACHER_PROXIES:
        create_proxy(name).score(student, batch, teacher_outputs)
    after = student.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert student.training


def test_different_batches_name_both_shapes(batch):
    teacher_outputs = TeacherOutputs.compute(build_vit_teacher(1), batch)
    smaller = Batch(batch.inputs[:6], batch.labels[:6])
    with pytest.raises(ValueError, match=r"feature maps cover different batches: \(8, 32, 2, 2\) and "
                                         r"\(6, 32, 8, 8\)"):
        proxies.create("diswot_relation").score(build_nb201(2), smaller, teacher_outputs)
    with pytest.raises(ValueError, match=r"CKA compares the same samples, but the inputs have shapes \(8, 32\) and "
                                         r"\(6, 24\)"):
        proxies.create("cka").score(build_vit_student(2), smaller, teacher_outputs)


def test_different_class_counts_name_both_shapes(batch):
    teacher_outputs = TeacherOutputs.compute(build_vit_teacher(1), batch)
    # More classes than the labels use, so the student's cross-entropy is defined and the check is reached.
    student = tiny_vit(num_classes=12)
    with pytest.raises(ValueError, match=r"different class counts: teacher weight \(10, 32\), student weight "
                                         r"\(12, 16\)"):
        proxies.create("diswot_semantic").score(student, batch, teacher_outputs)


# Teacher-free proxies on a ViT student.

@pytest.mark.parametrize("name", ["snip", "synflow", "params"])
def test_zero_cost_proxies_on_vit(name, batch):
    first = proxies.create(name).score(build_vit_student(2), batch).value
    second = proxies.create(name).score(build_vit_student(2), batch).value
    assert math.isfinite(first)
    assert first > 0
    assert first == second


def test_nwot_rejects_vit_without_relu(batch):
    with pytest.raises(ValueError, match=r"VisionTransformer has no nn.ReLU module; nwot reads binary codes"):
        proxies.create("nwot").score(build_vit_student(2), batch)


def test_evaluator_records_vit_failures(batch):
    space = search_spaces.create("vit", depths=(1,), widths=(24,), heads=(3,), mlp_ratios=(2.0,), patch_sizes=(8,),
                                 num_classes=10, input_size=32)
    evaluator = Evaluator(space, [proxies.create("diswot"), proxies.create("nwot"), proxies.create("snip")], batch,
                          teacher=build_nb201(1))
    record = evaluator.evaluate(space.parse("d1_w24_h3_m2.0_p8"))
    assert record["status"] == "ok", record["error"]
    assert math.isfinite(record["objective"])
    assert record["scores"]["nwot"] is None
    assert record["details"]["nwot"]["error"].startswith("ValueError: VisionTransformer has no nn.ReLU module")
    assert math.isfinite(record["scores"]["snip"])
