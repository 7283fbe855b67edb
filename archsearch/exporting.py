"""Export a trained student to a directory, and load it back.

An export directory contains three files:

* ``student.json``: the spec, with everything needed to rebuild the network from the
  search space, the SHA-256 of each file and caller-supplied ``extra`` data;
* ``model.safetensors``: the state dict, including buffers such as BatchNorm statistics;
* ``model.torchscript.pt``: the network traced in eval mode, for runtimes without archsearch.

Example:
    >>> out = export_student(model, space_name="nb201", space_config=space.config(), arch=arch_string,
    ...                      num_classes=10, out_dir="runs/student", extra={"kd_accuracy": 91.2})
    >>> model = load_student(out)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn as nn

import search_spaces

SPEC_FORMAT = "archsearch-student"
SPEC_VERSION = 1

SPEC_FILE = "student.json"
WEIGHTS_FILE = "model.safetensors"
TORCHSCRIPT_FILE = "model.torchscript.pt"

_REQUIRED_KEYS = ("format", "version", "space", "space_config", "arch", "num_classes", "files", "sha256")


def _archsearch_version() -> str:
    import archsearch

    version = getattr(archsearch, "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version("archsearch")
    except metadata.PackageNotFoundError:
        # A source checkout that is not installed has no version to report.
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _replace_file(final_path: Path, write: Any) -> None:
    """Call ``write(temporary_path)`` and then move the result onto ``final_path``.

    A failed export thus leaves any earlier file of the same name intact.
    """
    temporary_path = final_path.with_name(final_path.name + ".tmp")
    try:
        write(temporary_path)
        os.replace(temporary_path, final_path)
    finally:
        temporary_path.unlink(missing_ok=True)


def _check_matches_arch(model: nn.Module, reference: nn.Module, arch: str) -> None:
    """Raise ValueError unless ``model`` has the state-dict keys and shapes that ``arch`` builds."""
    expected = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    resized = sorted(key for key in expected.keys() & found.keys() if expected[key] != found[key])
    if missing or unexpected or resized:
        raise ValueError(f"the model does not match arch {arch!r} with this space config and num_classes, so "
                         f"load_student could not rebuild it: missing keys {missing[:5]}, unexpected keys "
                         f"{unexpected[:5]}, keys of another shape {resized[:5]}; pass the arch, space_config "
                         "and num_classes that built the model")


def _check_json(name: str, value: Any) -> None:
    # Checked before any file is written, so a bad value cannot leave a spec-less export behind.
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be JSON-serialisable, got {value!r} ({error}); "
                         "convert tensors and arrays to numbers or lists first") from error


def _save_torchscript(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    # A CPU copy is traced so the file loads on machines without the training device, and
    # the caller's model keeps its device and train/eval mode.
    traced_source = copy.deepcopy(model).cpu().eval()
    example = torch.zeros((1, *input_shape))
    # TorchScript is deprecated in recent torch releases (torch 2.14 warns with a
    # FutureWarning on trace, save and load), but it is still what many serving pipelines load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with torch.no_grad():
            traced = torch.jit.trace(traced_source, example)
        torch.jit.save(traced, str(path))


def export_student(model: nn.Module, *, space_name: str, space_config: dict[str, Any], arch: str, num_classes: int,
                   out_dir: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write the spec, the weights and a TorchScript trace of a student into ``out_dir``.

    ``out_dir`` is created if missing. Files of an earlier export there are overwritten.
    The spec is written last. If an overwrite fails midway, the old spec's SHA-256 no longer
    matches the new weights, so ``load_student`` raises rather than loading a mix.

    Args:
        model: The trained student. It is not modified.
        space_name: Registered search-space name, for example ``"nb201"``.
        space_config: Keyword arguments that recreate the space (``space.config()``).
        arch: The architecture in any form ``space.parse`` accepts. The spec stores the
            string that ``space.format`` returns for it.
        num_classes: Classifier outputs of ``model``.
        out_dir: Export directory.
        extra: JSON-serialisable data to store in the spec, such as distillation accuracies.

    Returns:
        The export directory.

    Raises:
        ValueError: If the space or arch is invalid, the model's state dict does not match
            the network that the arch builds, or ``extra`` is not JSON-serialisable.

    Example:
        >>> export_student(model, space_name="nb201", space_config=space.config(),
        ...                arch="|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        ...                num_classes=10, out_dir="student")
        PosixPath('student')
    """
    space = search_spaces.create(space_name, **space_config)
    parsed_arch = space.parse(arch)
    arch_string = space.format(parsed_arch)
    _check_matches_arch(model, space.build(parsed_arch, num_classes=num_classes), arch_string)
    extra = {} if extra is None else extra
    _check_json("space_config", space_config)
    _check_json("extra", extra)

    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    state_dict = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    _replace_file(out_path / WEIGHTS_FILE, lambda path: safetensors.torch.save_file(state_dict, str(path)))
    _replace_file(out_path / TORCHSCRIPT_FILE, lambda path: _save_torchscript(model, space.input_shape, path))

    spec = {
        "format": SPEC_FORMAT,
        "version": SPEC_VERSION,
        "space": space_name,
        "space_config": dict(space_config),
        "arch": arch_string,
        "num_classes": num_classes,
        "input_shape": list(space.input_shape),
        "versions": {"archsearch": _archsearch_version(), "torch": torch.__version__},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {"weights": WEIGHTS_FILE, "torchscript": TORCHSCRIPT_FILE},
        "sha256": {"weights": _sha256(out_path / WEIGHTS_FILE),
                   "torchscript": _sha256(out_path / TORCHSCRIPT_FILE)},
        "extra": extra,
    }
    _replace_file(out_path / SPEC_FILE, lambda path: path.write_text(json.dumps(spec, indent=2) + "\n"))
    return out_path


def _export_directory(path: str | os.PathLike[str]) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"export directory {str(directory)!r} not found; pass a directory written "
                                "by `archsearch export`")
    return directory


def read_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate the spec of the export directory ``path``.

    Raises:
        FileNotFoundError: If the directory or its ``student.json`` is missing.
        ValueError: If the spec is not valid JSON, has another format, a newer version than
            ``SPEC_VERSION`` or lacks a required key.

    Example:
        >>> read_spec("runs/student")["arch"]
        '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
    """
    spec_path = _export_directory(path) / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(f"spec file {str(spec_path)!r} not found; pass a directory written by "
                                "`archsearch export`")
    try:
        spec = json.loads(spec_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"spec file {str(spec_path)!r} is not valid JSON ({error}); export the student again") \
            from error
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"spec file {str(spec_path)!r} has format {found!r}, expected {SPEC_FORMAT!r}; "
                         "pass a directory written by `archsearch export`")

    version = spec.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"spec file {str(spec_path)!r} has invalid version {version!r}; "
                         f"supported versions are 1 to {SPEC_VERSION}")
    if version > SPEC_VERSION:
        raise ValueError(f"spec file {str(spec_path)!r} has version {version}, but this archsearch supports "
                         f"versions up to {SPEC_VERSION}; upgrade archsearch to load it")

    missing = [key for key in _REQUIRED_KEYS if key not in spec]
    for key in ("files", "sha256"):
        if key in spec and not (isinstance(spec[key], dict) and "weights" in spec[key]):
            missing.append(f"{key}.weights")
    if missing:
        raise ValueError(f"spec file {str(spec_path)!r} lacks the keys {missing}; export the student again")
    return spec


def load_student(path: str | os.PathLike[str]) -> nn.Module:
    """Rebuild an exported student from its spec and weights, in eval mode on the CPU.

    The weights file's SHA-256 is checked against the spec before the weights are loaded,
    and the state dict must match the rebuilt network exactly.

    Raises:
        FileNotFoundError: If the directory, the spec or the weights file is missing.
        ValueError: If the spec is invalid or too new, or the weights file does not match the spec.

    Example:
        >>> model = load_student("runs/student")
        >>> logits = model(torch.zeros(1, 3, 32, 32))
    """
    spec = read_spec(path)
    directory = Path(path)
    weights_path = directory / spec["files"]["weights"]
    if not weights_path.is_file():
        raise FileNotFoundError(f"weights file {str(weights_path)!r} not found; pass a directory written by "
                                "`archsearch export`")
    found_hash = _sha256(weights_path)
    if found_hash != spec["sha256"]["weights"]:
        raise ValueError(f"the weights file {str(weights_path)!r} does not match the spec: SHA-256 {found_hash}, "
                         f"spec {spec['sha256']['weights']}; the file was changed or damaged, so export the "
                         "student again")

    space = search_spaces.create(spec["space"], **spec["space_config"])
    model = space.build(space.parse(spec["arch"]), num_classes=spec["num_classes"])
    model.load_state_dict(safetensors.torch.load_file(str(weights_path), device="cpu"), strict=True)
    return model.eval()
