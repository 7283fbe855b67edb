"""Teacher networks for distillation: the demo CNN, timm models, checkpoints and Hugging Face folders.

``load_teacher(spec, data)`` accepts these spec forms:

- ``None`` or ``"demo"``: ``DemoTeacher``, trained on ``data.train`` the first time and then
  read from the cache (see ``default_cache_dir``). A cache file that is missing, unreadable or
  made for other data or another recipe version is replaced by a new training run.
- ``"timm:NAME"``: the timm model NAME with its pretrained weights from the local Hugging Face
  cache, or with the state dict in ``checkpoint``. Nothing is downloaded.
- ``"hf:PATH"``: the transformers encoder and tokenizer in the local folder PATH, returned as
  an ``archsearch.hf_teachers.HFTeacher`` (see that module for the files it needs). ``data``
  may be ``None`` for this form.
- A path to a checkpoint written by ``save_teacher``.

Every image teacher follows the timm feature protocol (``forward_features``, ``forward_head`` with
``pre_logits``, ``get_classifier``, ``num_features``) and is returned in eval mode.

Example:
    >>> from archsearch.data import load_data
    >>> data = load_data("digits")
    >>> teacher = load_teacher("demo", data, cache_dir="/tmp/archsearch-cache")
    >>> teacher(data.test.tensors[0][:4]).shape
    torch.Size([4, 10])
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from archsearch.data import DataSplits, data_loader
from archsearch.hf_teachers import is_hf_spec, load_hf_teacher

logger = logging.getLogger("archsearch.teachers")

CHECKPOINT_FORMAT = "archsearch-teacher"
CHECKPOINT_VERSION = 1
SPEC_FORMS = ('None or "demo" (built-in demo teacher), "timm:NAME" (a timm model), "hf:PATH" (a Hugging Face model '
              'folder), or the path of a teacher checkpoint')

# Increase RECIPE_VERSION whenever DemoTeacher or DEMO_RECIPE changes, so that cached demo
# teachers trained by the old recipe are retrained instead of reused.
RECIPE_VERSION = 1
DEMO_RECIPE = {"epochs": 8, "batch_size": 64, "learning_rate": 3e-3, "weight_decay": 5e-4, "seed": 0}


class DemoTeacher(nn.Module):
    """A small CNN teacher: three stages of 16, 32 and 64 channels, then pooling and a classifier.

    Each stage has two 3x3 convolutions with BatchNorm and ReLU, and the first convolution of
    stages two and three has stride 2. The embedding width is 64, the same as the default
    NAS-Bench-201 student, so feature-matching losses need no projection.

    Attributes:
        num_features: Width of the pooled embedding (64).
        feature_info: One dict per stage with ``num_chs``, ``reduction`` and ``module``.

    Example:
        >>> model = DemoTeacher(num_classes=10)
        >>> model.forward_features(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        widths = (16, 32, 64)
        stages = []
        self.feature_info = []
        previous = in_channels
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(_conv_bn_relu(previous, width, stride), _conv_bn_relu(width, width, 1)))
            self.feature_info.append({"num_chs": width, "reduction": 2 ** index, "module": f"stages.{index}"})
            previous = width
        self.stages = nn.Sequential(*stages)
        self.num_features = widths[-1]
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the 64-channel feature map before global pooling."""
        return self.stages(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map and classify it. With ``pre_logits``, return the pooled embedding instead."""
        pooled = self.global_pool(features).flatten(1)
        return pooled if pre_logits else self.classifier(pooled)

    def get_classifier(self) -> nn.Linear:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def default_cache_dir() -> Path:
    """Return ``$ARCHSEARCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/archsearch``, else ``~/.cache/archsearch``.

    An empty environment variable counts as unset.

    Example:
        >>> default_cache_dir().name in ("archsearch", os.environ.get("ARCHSEARCH_CACHE_DIR", ""))
        True
    """
    explicit = os.environ.get("ARCHSEARCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "archsearch"


def load_teacher(spec: str | None, data: DataSplits | None, *, checkpoint: str | Path | None = None,
                 cache_dir: str | Path | None = None, device: str | torch.device = "cpu",
                 log: logging.Logger | None = None) -> nn.Module:
    """Build the teacher named by ``spec`` for ``data`` and return it in eval mode on ``device``.

    Args:
        spec: One of the forms in the module docstring.
        data: The dataset the teacher classifies; it sets the classes and input channels,
            and the demo teacher trains on its train split. Unused, and may be ``None``, for
            ``hf:PATH``.
        checkpoint: For ``timm:NAME`` only: a ``.pth``, ``.pt`` or ``.safetensors`` state dict
            to load in place of the pretrained weights.
        cache_dir: Folder of the demo teacher cache; ``None`` uses ``default_cache_dir()``.
        device: Device of the returned model (the demo teacher also trains there).
        log: Logger for progress lines; ``None`` uses the ``archsearch.teachers`` logger.

    Raises:
        ValueError: If the spec is invalid, the weights are not available locally or do not
            fit the model, or the number of classes differs from ``data``.
        FileNotFoundError: If a checkpoint file or a Hugging Face model folder or its files do
            not exist.

    Example:
        >>> teacher = load_teacher(None, load_data("digits"))  # trains or reads the demo teacher
    """
    log = log or logger
    device = torch.device(device)
    if checkpoint is not None and not (isinstance(spec, str) and spec.startswith("timm:")):
        raise ValueError(f"checkpoint={str(checkpoint)!r} needs a teacher spec of the form timm:NAME, got {spec!r}; "
                         "an archsearch teacher checkpoint is passed as the spec itself")

    if is_hf_spec(spec):
        return load_hf_teacher(spec, device=device)
    if isinstance(spec, str) and (Path(spec).expanduser() / "config.json").is_file():
        raise ValueError(f"teacher spec {spec!r} is a Hugging Face model folder; write it as hf:{spec}")
    if data is None:
        raise ValueError(f"teacher spec {spec!r} needs the image data it classifies; pass data=load_data(...), "
                         "or use an hf:PATH teacher for text")
    if spec is None or spec == "demo":
        model = _load_demo_teacher(data, Path(cache_dir) if cache_dir is not None else default_cache_dir(),
                                   device, log)
    elif not isinstance(spec, str):
        raise ValueError(f"teacher spec must be a string or None, got {spec!r}; valid forms: {SPEC_FORMS}")
    elif spec.startswith("timm:"):
        model = _load_timm_teacher(spec[len("timm:"):], data, checkpoint, log)
    else:
        model = _load_checkpoint_teacher(Path(spec).expanduser(), data)
    return model.to(device).eval()


def save_teacher(model: nn.Module, path: str | Path, *, spec: str, num_classes: int, in_channels: int,
                 metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` as an archsearch teacher checkpoint that ``load_teacher(path, data)`` reads.

    The file is written to a temporary name and then renamed, so an interrupted run never
    leaves a partial checkpoint at ``path``.

    Args:
        model: The teacher; its state dict is stored on the CPU.
        path: Destination file; missing parent folders are created.
        spec: ``"demo"`` or ``"timm:NAME"``, which rebuilds the architecture on load.
        num_classes: Classes of the classifier.
        in_channels: Channels of the input images.
        metadata: Extra JSON-like values (str, int, float, bool, lists, dicts) to store.

    Example:
        >>> save_teacher(DemoTeacher(10), "/tmp/teacher.pt", spec="demo", num_classes=10, in_channels=3)
    """
    if not isinstance(spec, str) or (spec != "demo" and not spec.startswith("timm:")):
        raise ValueError(f"spec must be 'demo' or 'timm:NAME', got {spec!r}")
    state_dict = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    record = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "spec": spec,
        "num_classes": int(num_classes),
        "in_channels": int(in_channels),
        "state_dict": state_dict,
        "metadata": dict(metadata or {}),
    }
    _atomic_torch_save(record, Path(path))


# --- demo teacher -----------------------------------------------------------------------------


def demo_cache_path(data: DataSplits, cache_dir: str | Path) -> Path:
    """Return the cache file of the demo teacher for ``data`` under ``cache_dir``."""
    return Path(cache_dir) / "teachers" / f"demo-{data.name}-{data.fingerprint()}-v{RECIPE_VERSION}.pt"


def _demo_metadata(data: DataSplits) -> dict[str, Any]:
    """Return the values a cached demo teacher must match to be reused."""
    return {
        "recipe_version": RECIPE_VERSION,
        "recipe": dict(DEMO_RECIPE),
        "data_name": data.name,
        "data_fingerprint": data.fingerprint(),
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
    }


def _load_demo_teacher(data: DataSplits, cache_dir: Path, device: torch.device, log: logging.Logger) -> nn.Module:
    path = demo_cache_path(data, cache_dir)
    expected = _demo_metadata(data)
    model = _read_demo_cache(path, expected, log)
    if model is not None:
        return model

    model, accuracy = train_demo_teacher(data, device=device, log=log)
    metadata = {**expected, "test_accuracy": accuracy}
    try:
        save_teacher(model, path, spec="demo", num_classes=data.num_classes, in_channels=data.input_shape[0],
                     metadata=metadata)
    except OSError as error:
        # The trained model is still usable, so a read-only cache only costs a retrain next time.
        log.warning("could not write the demo teacher cache %s (%s); it will be retrained next time", path, error)
    return model


def _read_demo_cache(path: Path, expected: dict[str, Any], log: logging.Logger) -> nn.Module | None:
    """Return the cached demo teacher, or None when the file is missing, unreadable or stale."""
    if not path.is_file():
        return None
    try:
        record = _read_checkpoint(path)
    except ValueError as error:
        log.warning("demo teacher cache %s is unreadable (%s); retraining", path, error)
        return None

    stored = {key: record["metadata"].get(key) for key in expected} if isinstance(record.get("metadata"), dict) else {}
    if record["spec"] != "demo" or stored != expected:
        log.warning("demo teacher cache %s is stale (its metadata does not match this data and recipe); retraining",
                    path)
        return None

    model = DemoTeacher(record["num_classes"], record["in_channels"])
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        log.warning("demo teacher cache %s does not fit DemoTeacher (%s); retraining", path, error)
        return None
    log.info("loaded the demo teacher from cache %s (test accuracy %.4f)", path,
             record["metadata"].get("test_accuracy", float("nan")))
    return model


def train_demo_teacher(data: DataSplits, *, device: str | torch.device = "cpu",
                       log: logging.Logger | None = None) -> tuple[DemoTeacher, float]:
    """Train a ``DemoTeacher`` on ``data.train`` with ``DEMO_RECIPE`` and return it with its test accuracy.

    Initialisation and batch order come from the recipe seed, and the global torch RNG state
    is restored afterwards.

    Example:
        >>> model, accuracy = train_demo_teacher(load_data("digits"))
    """
    log = log or logger
    device = torch.device(device)
    recipe = DEMO_RECIPE
    train_images = len(data.train)
    log.info("training the demo teacher on %s (%d images, %d epochs)", data.name, train_images, recipe["epochs"])
    start = time.perf_counter()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe["seed"])
        model = DemoTeacher(data.num_classes, data.input_shape[0]).to(device)
    loader = data_loader(data.train, recipe["batch_size"], shuffle=True, seed=recipe["seed"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"],
                                  weight_decay=recipe["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["learning_rate"],
                                                    total_steps=recipe["epochs"] * len(loader))

    model.train()
    for _ in range(recipe["epochs"]):
        for images, labels in loader:
            loss = F.cross_entropy(model(images.to(device)), labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

    model.eval()
    accuracy = evaluate_accuracy(model, data, device=device)
    log.info("trained the demo teacher: test accuracy %.4f in %.1f s", accuracy, time.perf_counter() - start)
    return model, accuracy


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: DataSplits, *, device: str | torch.device = "cpu",
                      batch_size: int = 256) -> float:
    """Return the top-1 accuracy (0..1) of ``model`` on ``data.test``. The model must be in eval mode.

    Example:
        >>> evaluate_accuracy(DemoTeacher(10).eval(), load_data("digits"))  # about 0.1 untrained
    """
    device = torch.device(device)
    images, labels = data.test.tensors
    if len(labels) == 0:
        raise ValueError(f"the test split of {data.name} is empty, so accuracy is undefined")
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = model(images[start:start + batch_size].to(device))
        correct += int((logits.argmax(dim=1).cpu() == labels[start:start + batch_size]).sum())
    return correct / len(labels)


# --- archsearch checkpoints -------------------------------------------------------------------


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Read an archsearch teacher checkpoint, raising ValueError when the file is not one."""
    try:
        # weights_only=True restricts unpickling to tensors and plain containers.
        record = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as error:
        # A file that is not a torch archive at all can make the unpickler raise KeyError.
        raise ValueError(f"{path} is not a readable archsearch teacher checkpoint ({type(error).__name__}: {error})"
                         ) from error

    plain_state_dict_hint = ("for a plain state dict, pass the spec timm:NAME with --teacher-checkpoint FILE "
                             "(checkpoint=FILE in Python)")
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an archsearch teacher checkpoint: expected a dict with "
                         f"format={CHECKPOINT_FORMAT!r} as written by save_teacher; {plain_state_dict_hint}")
    if record.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {record.get('version')!r}, but this archsearch reads "
                         f"version {CHECKPOINT_VERSION}; save the teacher again with this version")
    missing = [key for key in ("spec", "num_classes", "in_channels", "state_dict") if key not in record]
    if missing:
        raise ValueError(f"{path} is an incomplete archsearch teacher checkpoint: missing {missing}")
    return record


def _load_checkpoint_teacher(path: Path, data: DataSplits) -> nn.Module:
    if path.is_dir():
        raise ValueError(f"teacher spec {str(path)!r} is a folder; pass the path of a checkpoint file written "
                         "by save_teacher, or hf:PATH for a Hugging Face model folder")
    if not path.is_file():
        if path.suffix or os.sep in str(path):
            raise FileNotFoundError(f"teacher checkpoint {str(path)!r} not found; pass the path of a file "
                                    "written by save_teacher")
        raise ValueError(f"unknown teacher spec {str(path)!r}; valid forms: {SPEC_FORMS} "
                         f"(for a timm model write timm:{path})")

    record = _read_checkpoint(path)
    _check_classes(record["num_classes"], data, f"teacher checkpoint {path}")
    if record["in_channels"] != data.input_shape[0]:
        raise ValueError(f"teacher checkpoint {path} takes {record['in_channels']}-channel images, but the data "
                         f"has {data.input_shape[0]} channels; load the data with channels={record['in_channels']}")

    spec = record["spec"]
    if spec == "demo":
        model: nn.Module = DemoTeacher(record["num_classes"], record["in_channels"])
    elif isinstance(spec, str) and spec.startswith("timm:"):
        model = _create_timm_model(spec[len("timm:"):], pretrained=False, num_classes=record["num_classes"],
                                   in_channels=record["in_channels"])
    else:
        raise ValueError(f"teacher checkpoint {path} has the unknown spec {spec!r}; expected 'demo' or 'timm:NAME'")
    try:
        model.load_state_dict(record["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"the state dict in {path} does not fit the {spec} model: {error}") from error
    return model


def _atomic_torch_save(record: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(record, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_classes(num_classes: int, data: DataSplits, description: str) -> None:
    if num_classes != data.num_classes:
        raise ValueError(f"{description} has {num_classes} classes, but the data {data.name} has {data.num_classes}; "
                         "use a teacher trained on this data")


# --- timm teachers ----------------------------------------------------------------------------


# A teacher with a random classifier gives random logits to distil and meaningless classifier
# gradients to DisWOT's semantic term.
UNTRAINED_HEAD_ADVICE = ("A teacher needs a classifier trained on the data's classes: fine-tune it first and pass "
                         "the result with --teacher-checkpoint.")


def _load_timm_teacher(name: str, data: DataSplits, checkpoint: str | Path | None,
                       log: logging.Logger) -> nn.Module:
    _check_timm_name(name)
    in_channels = data.input_shape[0]
    if checkpoint is None:
        model = _create_pretrained_timm_model(name, data.num_classes, in_channels)
        log.info("loaded timm model %s with its pretrained weights from the local Hugging Face cache", name)
        pretrained_classes = (getattr(model, "pretrained_cfg", None) or {}).get("num_classes")
        if pretrained_classes and pretrained_classes != data.num_classes:
            log.warning("timm model %s was pretrained with %d classes, so its new %d-class classifier is random. %s",
                        name, pretrained_classes, data.num_classes, UNTRAINED_HEAD_ADVICE)
        return model

    state_dict = _read_state_dict(Path(checkpoint).expanduser())
    model = _create_timm_model(name, pretrained=False, num_classes=data.num_classes, in_channels=in_channels)
    _load_timm_state_dict(model, state_dict, Path(checkpoint), log)
    log.info("loaded timm model %s with the weights of %s", name, checkpoint)
    return model


def _check_timm_name(name: str) -> None:
    """Raise ValueError unless timm has a model named ``name`` and, when a tag is given, that tag."""
    import timm
    from timm.models import get_pretrained_cfg

    if not name or not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r}; list the available names with "
                         "timm.list_models('pattern*'), for example timm.list_models('resnet*')")
    try:
        get_pretrained_cfg(name)
    except RuntimeError as error:
        architecture = name.split(".")[0]
        raise ValueError(f"invalid timm model name {name!r} ({error}); list the tags with "
                         f"timm.list_pretrained({architecture + '.*'!r})") from error


def _create_timm_model(name: str, *, pretrained: bool, num_classes: int, in_channels: int) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_channels)


def _create_pretrained_timm_model(name: str, num_classes: int, in_channels: int) -> nn.Module:
    from huggingface_hub.errors import LocalEntryNotFoundError

    not_found = (f"the pretrained weights of {name} were not found in the local Hugging Face cache; download "
                 f"them once while online (for example timm.create_model({name!r}, pretrained=True)) or pass a "
                 "state dict with --teacher-checkpoint FILE (checkpoint=FILE in Python)")
    _require_hub_weights(name, not_found)
    with _hub_offline():
        try:
            return _create_timm_model(name, pretrained=True, num_classes=num_classes, in_channels=in_channels)
        except LocalEntryNotFoundError as error:
            raise ValueError(not_found) from error


def _require_hub_weights(name: str, not_found: str) -> None:
    """Raise ValueError unless timm would load the weights of ``name`` from the Hugging Face Hub.

    Offline mode only stops Hub downloads. Weights that timm fetches from a plain URL go
    through torch.hub instead, so such models are rejected here rather than downloaded.
    """
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(name)
    if config is None:
        raise ValueError(f"timm model {name} has no pretrained weights; pass a state dict with "
                         "--teacher-checkpoint FILE (checkpoint=FILE in Python)")
    if not config.hf_hub_id:
        # NOTE: this rejects the few URL-only models (19 of 1,826 pretrained tags in timm 1.0.31)
        # even when torch.hub has cached their weights; --teacher-checkpoint loads those.
        raise ValueError(not_found)


@contextmanager
def _hub_offline() -> Iterator[None]:
    """Put huggingface_hub into offline mode for the block, then restore the previous state."""
    import huggingface_hub.constants as hub_constants

    previous_env = os.environ.get("HF_HUB_OFFLINE")
    previous_flag = hub_constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    # huggingface_hub (2.4) reads HF_HUB_OFFLINE once at import, so the module flag is set too.
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = previous_flag
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a ``torch.save`` file (``.pth``, ``.pt``)."""
    if not path.is_file():
        raise FileNotFoundError(f"teacher checkpoint {str(path)!r} not found; pass an existing .pth, .pt or "
                                ".safetensors state dict")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except SafetensorError as error:
            raise ValueError(f"{path} is not a readable safetensors file: {error}") from error

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a readable state dict file ({type(error).__name__}: {error})") from error
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is an archsearch teacher checkpoint; pass it as the teacher spec itself, "
                         "not as --teacher-checkpoint")
    # Training scripts often wrap the weights as {"state_dict": ...} or {"model": ...}.
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise ValueError(f"{path} does not contain a state dict (a dict of parameter names to tensors)")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def _load_timm_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], path: Path,
                          log: logging.Logger) -> None:
    """Load ``state_dict`` into ``model``, dropping the classifier when its shape differs."""
    classifier_prefix = _classifier_prefix(model)
    model_state = model.state_dict()
    classifier_keys = [key for key in state_dict if classifier_prefix and key.startswith(classifier_prefix)]
    mismatched = [key for key in classifier_keys if key in model_state and state_dict[key].shape != model_state[key].shape]
    if mismatched:
        classes = state_dict[mismatched[0]].shape[0]
        log.warning("%s has a %d-class classifier but the data has %d classes; dropped %s and kept the new "
                    "classifier's random initialisation. %s", path, classes, model.get_classifier().out_features,
                    ", ".join(classifier_keys), UNTRAINED_HEAD_ADVICE)
        state_dict = {key: value for key, value in state_dict.items() if key not in classifier_keys}

    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:
        raise ValueError(f"the state dict in {path} does not fit the model: {error}") from error
    missing = [key for key in result.missing_keys if not (mismatched and key.startswith(classifier_prefix))]
    if missing or result.unexpected_keys:
        raise ValueError(f"the state dict in {path} does not fit the model: missing keys {missing[:5]}, "
                         f"unexpected keys {result.unexpected_keys[:5]} (first five of each)")


def _classifier_prefix(model: nn.Module) -> str:
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    for name, module in model.named_modules():
        if module is classifier and name:
            return name + "."
    return ""
