"""Teachers from a local Hugging Face model folder: a transformers encoder and its tokenizer.

A teacher spec ``"hf:PATH"`` names a folder written by ``save_pretrained`` (or a downloaded
model snapshot). It must contain ``config.json``, the weights (``model.safetensors`` or
``pytorch_model.bin``, possibly sharded with an index file) and the tokenizer files
(``tokenizer.json``, ``vocab.txt`` or another vocabulary file the tokenizer class reads). The
prefix makes the spec unambiguous next to checkpoint files and timm names, so a bare folder
path is not accepted by ``load_teacher``. ``load_hf_teacher`` also accepts the bare path.

Nothing is downloaded: both loaders run with ``local_files_only=True``.

Example:
    >>> teacher = load_hf_teacher("hf:/models/all-MiniLM-L6-v2")
    >>> teacher.config.hidden_size, len(teacher.tokenizer)
    (384, 30522)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn as nn

HF_PREFIX = "hf:"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")


class HFTeacher(nn.Module):
    """A transformers encoder with its tokenizer, in eval mode with eager attention.

    ``forward`` passes its arguments to the encoder, so the teacher is called like the
    encoder itself (``input_ids``, ``attention_mask``, ``output_hidden_states``,
    ``output_attentions``).

    Attributes:
        encoder: The ``transformers`` model (``AutoModel``, no task head).
        tokenizer: The tokenizer read from the same folder.
        path: The model folder.

    Example:
        >>> teacher = load_hf_teacher("hf:/models/all-MiniLM-L6-v2")
        >>> batch = teacher.tokenizer(["a passage"], return_tensors="pt")
        >>> outputs = teacher(**batch, output_attentions=True)
    """

    def __init__(self, encoder: nn.Module, tokenizer: Any, path: Path) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.path = path

    @property
    def config(self) -> Any:
        """The encoder's ``transformers`` configuration."""
        return self.encoder.config

    def student_space_options(self) -> dict[str, int]:
        """Return the ``vocab_size`` and ``max_position_embeddings`` a student needs to read this tokenizer's ids.

        Example:
            >>> space = search_spaces.create("bert", preset="tiny", **teacher.student_space_options())
        """
        return {"vocab_size": len(self.tokenizer),
                "max_position_embeddings": int(self.config.max_position_embeddings)}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.encoder(*args, **kwargs)


def is_hf_spec(spec: Any) -> bool:
    """Return whether ``spec`` is a teacher spec of the form ``hf:PATH``."""
    return isinstance(spec, str) and spec.startswith(HF_PREFIX)


def load_hf_teacher(spec: str | Path, device: str | torch.device = "cpu") -> HFTeacher:
    """Load the encoder and tokenizer in a local model folder and return them in eval mode on ``device``.

    Args:
        spec: ``"hf:PATH"`` or the folder path itself.
        device: Device of the returned encoder.

    Raises:
        FileNotFoundError: If the folder, its ``config.json``, its weights or its tokenizer
            files are missing. The message names the folder and how to write the files.
        ValueError: If the folder is not a path, the files cannot be read, or the tokenizer
            has more tokens than the model's embedding table.
    """
    path = _model_folder(spec)
    # transformers is imported here, not at module level, so `import archsearch` stays fast.
    from transformers import AutoModel, AutoTokenizer

    try:
        with _quiet_transformers():
            encoder = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager")
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"could not load the model in {str(path)!r} with transformers.AutoModel "
                         f"({type(error).__name__}: {error}); write the folder with model.save_pretrained") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"could not load the tokenizer in {str(path)!r} with transformers.AutoTokenizer "
                         f"({type(error).__name__}: {error}); write it with tokenizer.save_pretrained") from error

    embedding_rows = encoder.get_input_embeddings().num_embeddings
    if len(tokenizer) > embedding_rows:
        raise ValueError(f"the tokenizer in {str(path)!r} has {len(tokenizer)} tokens, but the model embeds only "
                         f"{embedding_rows}; save the tokenizer that belongs to this model in the folder")
    return HFTeacher(encoder, tokenizer, path).to(torch.device(device)).eval()


def _model_folder(spec: str | Path) -> Path:
    if isinstance(spec, str):
        text = spec[len(HF_PREFIX):] if is_hf_spec(spec) else spec
    elif isinstance(spec, Path):
        text = str(spec)
    else:
        raise ValueError(f"a Hugging Face teacher spec must be 'hf:PATH' or a folder path, got {spec!r}")
    if not text:
        raise ValueError(f"teacher spec {spec!r} names no folder; write hf:PATH with the folder that contains "
                         "config.json")

    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Hugging Face model folder {str(path)!r} not found; pass a folder written by "
                                "model.save_pretrained and tokenizer.save_pretrained")
    if not path.is_dir():
        raise ValueError(f"Hugging Face teacher path {str(path)!r} is a file; pass the folder that contains "
                         "config.json, the weights and the tokenizer files")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {str(path)!r}; the folder must be written by "
                                "model.save_pretrained (or be a Hugging Face model snapshot)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(f"no model weights in {str(path)!r}: expected one of {', '.join(WEIGHT_FILES)}; "
                                "write them with model.save_pretrained")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise FileNotFoundError(f"no tokenizer files in {str(path)!r}: expected one of {', '.join(TOKENIZER_FILES)}; "
                                "write them with tokenizer.save_pretrained into the same folder")
    return path


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' loading bar and its notes on unused weights, then restore its settings.

    ``archsearch -q`` prints only results and errors, and a task head that the encoder leaves
    out (of a classification checkpoint) is expected here, not a problem to report.
    """
    from transformers.utils import logging as transformers_logging

    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity(transformers_logging.ERROR)
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()
