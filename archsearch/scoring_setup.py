"""The setup of a search or a scoring run: its space, scoring batch and teacher, made before the first candidate.

Image spaces (input shape ``(channels, height, width)``) read image data with
``archsearch.data.load_data`` and take the demo, ``timm:NAME`` or checkpoint teachers. Text
spaces (input shape ``(sequence_length,)``, such as ``bert``) read passages with
``archsearch.text_data.load_passages`` and need an ``hf:PATH`` teacher, whose tokenizer turns
the passages into token ids and whose vocabulary sets the students' embedding table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

import search_spaces
from archsearch.data import DataSplits, load_data, scoring_batch
from archsearch.hf_teachers import is_hf_spec
from archsearch.proxies import Batch, Proxy
from archsearch.teachers import load_teacher
from archsearch.text_data import DEFAULT_CORPUS, DEFAULT_CORPUS_MIN_WORDS, TextBatch, load_passages, tokenize_passages

IMAGES = "images"
TEXT = "text"
_MODELS = {IMAGES: "image models", TEXT: "text models"}


@dataclass
class ScoringSetup:
    """The space, scoring batch and teacher of one run.

    Attributes:
        space: The search space, with the class count of the data (images) or the
            vocabulary of the teacher's tokenizer (text).
        batch: The scoring batch: a ``Batch`` of images or a ``TextBatch`` of token ids.
        teacher: The teacher model, or ``None`` when no proxy compares with one.
        num_classes: Classifier outputs of built students; ``None`` for text spaces, whose
            students are encoders without a head.
        data_name: A short name of the data, stored with the run.
    """

    space: search_spaces.SearchSpace
    batch: Batch | TextBatch
    teacher: nn.Module | None
    num_classes: int | None
    data_name: str


def check_space_options(space_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``space_options`` as a new dict, or raise a ValueError when it is not a mapping."""
    if space_options is None:
        return {}
    if not isinstance(space_options, Mapping):
        raise ValueError(f"space_options must be a mapping from option name to value, such as {{'channels': 8}}, "
                         f"got {space_options!r}")
    return dict(space_options)


def input_kind(space: search_spaces.SearchSpace) -> str:
    """Return ``"text"`` for a space whose inputs are token sequences, else ``"images"``."""
    return TEXT if len(space.input_shape) == 1 else IMAGES


def default_proxy(space: str, space_options: Mapping[str, Any] | None = None) -> str:
    """Return the default objective proxy of ``space``: ``diswot`` for images, ``minilm_relation`` for text."""
    kind = input_kind(search_spaces.create(space, **check_space_options(space_options)))
    return "minilm_relation" if kind == TEXT else "diswot"


def check_proxy_inputs(proxies: Sequence[Proxy], kind: str, space: str) -> None:
    """Raise a ValueError when a proxy cannot score the inputs of the space.

    Raises:
        ValueError: If a proxy reads images and the space takes text, or the other way round.
            The message lists the proxies that fit.
    """
    from archsearch import proxies as proxy_registry

    for proxy in proxies:
        if proxy.inputs not in ("any", kind):
            fitting = [name for name in proxy_registry.list()
                       if proxy_registry.proxy_class(name).inputs in ("any", kind)]
            raise ValueError(f"proxy {proxy.name!r} scores {_MODELS[proxy.inputs]}, but search space {space!r} "
                             f"takes {kind}; choose from {', '.join(fitting)}")


def prepare_scoring(space: str, space_options: Mapping[str, Any] | None, proxies: Sequence[Proxy], *,
                    data: str | None, teacher: str | None, teacher_checkpoint: str | None, batch_size: int,
                    seed: int, device: torch.device, download: bool = False) -> ScoringSetup:
    """Create the space, load the data and the teacher, and draw the scoring batch.

    Raises:
        ValueError: If the proxies do not fit the space's inputs, the teacher does not fit
            the space, or the data cannot fill a batch of ``batch_size``.
    """
    options = check_space_options(space_options)
    kind = input_kind(search_spaces.create(space, **options))
    check_proxy_inputs(proxies, kind, space)
    needs_teacher = any(proxy.needs_teacher for proxy in proxies)
    if kind == TEXT:
        return _prepare_text(space, options, needs_teacher, data=data, teacher=teacher,
                             teacher_checkpoint=teacher_checkpoint, batch_size=batch_size, seed=seed, device=device)

    if is_hf_spec(teacher):
        raise ValueError(f"teacher {teacher!r} is a Hugging Face text encoder, but search space {space!r} takes "
                         "images; use a text space such as bert, or an image teacher (demo, timm:NAME or a checkpoint)")
    search_space, splits = prepare_space(space, options, data, download=download)
    check_batch_size(batch_size, splits)
    teacher_model = (load_teacher(teacher, splits, checkpoint=teacher_checkpoint, device=device)
                     if needs_teacher else None)
    inputs, labels = scoring_batch(splits, batch_size, seed)
    return ScoringSetup(search_space, Batch(inputs, labels), teacher_model, splits.num_classes, splits.name)


def prepare_space(space: str, space_options: Mapping[str, Any] | None, data: str | None,
                  download: bool = False) -> tuple[search_spaces.SearchSpace, DataSplits]:
    """Create an image space and load the data at the space's input shape, with the data's class count.

    Raises:
        ValueError: If ``space_options`` set ``num_classes`` to a value the data does not have.
    """
    options = dict(space_options or {})
    provisional = search_spaces.create(space, **options)
    channels, height, _ = provisional.input_shape
    splits = load_data(data, input_size=height, channels=channels, download=download)
    if "num_classes" in options and options["num_classes"] != splits.num_classes:
        raise ValueError(f"space option num_classes={options['num_classes']} does not match the {splits.num_classes} "
                         f"classes of data {splits.source!r}; leave num_classes out to take it from the data")
    options["num_classes"] = splits.num_classes
    return search_spaces.create(space, **options), splits


def check_batch_size(batch_size: int, splits: DataSplits) -> None:
    """Raise a ValueError before any work when the scoring batch cannot come from the train split."""
    if batch_size > len(splits.train):
        raise ValueError(f"batch size {batch_size} exceeds the {len(splits.train)} training images of "
                         f"{splits.source!r}; choose a batch size of at most {len(splits.train)}")


def _prepare_text(space: str, options: dict[str, Any], needs_teacher: bool, *, data: str | None,
                  teacher: str | None, teacher_checkpoint: str | None, batch_size: int, seed: int,
                  device: torch.device) -> ScoringSetup:
    if not is_hf_spec(teacher):
        teacher_text = "no teacher was given" if teacher is None else f"got teacher {teacher!r}"
        raise ValueError(f"search space {space!r} takes token sequences, so it needs a Hugging Face teacher whose "
                         f"tokenizer reads the text, but {teacher_text}; pass an hf:PATH teacher (--teacher hf:PATH "
                         "on the command line), where PATH is a folder written with save_pretrained")
    teacher_model = load_teacher(teacher, None, checkpoint=teacher_checkpoint, device=device)
    tokenizer = teacher_model.tokenizer

    # The students embed the teacher's token ids, so their table must cover its vocabulary.
    options = {**teacher_model.student_space_options(), **options}
    if options["vocab_size"] < len(tokenizer):
        raise ValueError(f"space option vocab_size={options['vocab_size']} is smaller than the {len(tokenizer)} "
                         f"tokens of the teacher's tokenizer; leave vocab_size out to take it from the teacher")
    search_space = search_spaces.create(space, **options)

    passages = load_passages(data, min_words=DEFAULT_CORPUS_MIN_WORDS if data is None else 1)
    data_name = DEFAULT_CORPUS if data is None else str(data)
    if batch_size > len(passages):
        raise ValueError(f"batch size {batch_size} exceeds the {len(passages)} passages of {data_name!r}; choose a "
                         f"batch size of at most {len(passages)}")
    chosen = random.Random(seed).sample(passages, batch_size)
    batch = tokenize_passages(chosen, tokenizer, sequence_length=search_space.input_shape[0],
                              batch_size=batch_size, max_batches=1)[0]
    return ScoringSetup(search_space, batch, teacher_model if needs_teacher else None, None, data_name)
