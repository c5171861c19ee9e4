"""Model folders: load (weights only), describe, hash and save SleepFM models.

A model folder is the layout of the official release (``sleepfm/checkpoints/model_*``):

- ``config.json``: ``"model"`` names the class. The base model keeps its constructor arguments
  at the top level; the heads keep them under ``"model_params"``.
- ``best.pt`` (a dict whose ``"state_dict"`` is the weights, as the base is released) or
  ``best.pth`` (the state dict itself, as the heads are released). Keys may carry the
  ``module.`` prefix that ``nn.DataParallel`` adds.
- ``metadata.json`` (models this project saves): preprocessing contract, channel mapping,
  provenance, metrics, engine version.

A release folder holds ``model_base/``, ``model_sleep_staging/`` and ``model_diagnosis/`` (the
layout comes from :mod:`sleepfm_engine.training_tasks`: each training task names its folder).

Weights are read with ``torch.load(weights_only=True)`` and nothing else: a file that needs
more than tensors and plain containers to unpickle is refused, never executed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import os
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import ModelError
from .training_tasks import BASE_KIND, release_folder_names
from .training_tasks import model_kinds as _model_kinds

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
#: Weight file names in the order they are looked for: the base is released as ``best.pt``
#: (a dict with ``state_dict``), the heads as ``best.pth`` (the state dict itself).
WEIGHT_FILES = ("best.pt", "best.pth")
#: Prefixes that wrappers add to state-dict keys (DataParallel/DDP, torch.compile).
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: How many offending keys a message lists before it says "and N more".
_LIST_LIMIT = 20


# --------------------------------------------------------------------------------------- config
def _folder_of(path: str | Path) -> Path:
    """The model folder ``path`` names: the folder itself, or the folder of a file inside it."""
    p = Path(path).expanduser()
    if p.is_file():
        return p.parent
    if not p.exists():
        raise ModelError(p, "no such model folder")
    return p


def load_config(path: str | Path) -> dict:
    """Read the ``config.json`` of a model folder (or the config file itself).

    Raises
    ------
    ModelError
        When the file is missing, is not valid JSON, is not an object, or names no known model.
    """
    p = Path(path).expanduser()
    cfg_path = p if p.is_file() else p / CONFIG_FILE
    folder = cfg_path.parent
    if not folder.exists():
        raise ModelError(folder, "no such model folder")
    if not cfg_path.is_file():
        raise ModelError(folder, f"no {CONFIG_FILE}: a model folder needs one beside its weights")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(folder, f"{cfg_path.name} is not valid JSON (line {exc.lineno}, column "
                                 f"{exc.colno}: {exc.msg})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(folder, f"{cfg_path.name} cannot be read: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelError(folder, f"{cfg_path.name} must hold a JSON object, not {type(config).__name__}")
    name = config.get("model")
    kinds = _model_kinds()
    if not isinstance(name, str) or name not in kinds:
        raise ModelError(folder, f"{cfg_path.name} names model {name!r}; known models: "
                                 f"{', '.join(sorted(kinds))}")
    return config


def model_kind(config: Mapping) -> str:
    """The kind (``"base"``, ``"staging"``, ``"diagnosis"``... as the training-task registry
    names them) of a config or a model class name."""
    name = config if isinstance(config, str) else config.get("model")
    kinds = _model_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(kinds))}") from None


def model_params(config: Mapping, folder: str | Path | None = None) -> dict:
    """Constructor arguments for the class a config names.

    Heads take ``config["model_params"]`` whole (unknown keys are an error, as in the
    reference); the base takes the top-level keys its constructor knows and ignores training
    settings (batch size, paths...).
    """
    from .models import MODEL_CLASSES

    cls = MODEL_CLASSES[config["model"]]
    accepted = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    if "model_params" in config:
        params = config["model_params"]
        if not isinstance(params, dict):
            raise ModelError(folder, "config.json: model_params must be a JSON object")
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ModelError(folder, f"config.json: model_params has keys {cls.__name__} does not take: "
                                     f"{', '.join(unknown)}")
        return dict(params)
    return {k: config[k] for k in accepted if k in config}


def build_model(config: Mapping, folder: str | Path | None = None) -> "nn.Module":
    """A freshly initialised model of the class and size a config describes (CPU, eval mode)."""
    from .models import MODEL_CLASSES

    if config.get("model") not in MODEL_CLASSES:
        raise ModelError(folder, f"config names model {config.get('model')!r}; known models: "
                                 f"{', '.join(sorted(MODEL_CLASSES))}")
    cls = MODEL_CLASSES[config["model"]]
    params = model_params(config, folder)
    try:
        model = cls(**params)
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ModelError(folder, f"config.json does not describe a valid {cls.__name__} "
                                 f"({', '.join(f'{k}={v!r}' for k, v in params.items())}): {exc}") from exc
    return model.eval()


# -------------------------------------------------------------------------------------- weights
def find_weights(path: str | Path) -> Path:
    """The weights file of a model folder (``best.pt`` or ``best.pth``)."""
    folder = _folder_of(path)
    found = [folder / n for n in WEIGHT_FILES if (folder / n).is_file()]
    if not found:
        raise ModelError(folder, f"no weights file: expected {' or '.join(WEIGHT_FILES)}")
    if len(found) > 1:
        raise ModelError(folder, f"holds both {found[0].name} and {found[1].name}; it is not clear "
                                 f"which weights to use, so remove one")
    return found[0]


def _strip_prefixes(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def _looks_like_torch_file(path: Path) -> bool:
    """Whether a file opens as torch.save writes: a zip archive, or a pickle (protocol 2+)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def read_state_dict(weights: str | Path) -> dict[str, "torch.Tensor"]:
    """Read a weights file safely and return its state dict with wrapper prefixes removed.

    Accepts a bare state dict or a dict holding one under ``state_dict`` (or
    ``model_state_dict``, as the reference's resumable checkpoints do).

    Raises
    ------
    ModelError
        When the file would need to run code to load (refused, not run), cannot be read, or
        holds no state dict of tensors.
    """
    import pickle

    import torch

    path = Path(weights)
    folder = path.parent
    if path.is_file() and not _is_empty(path) and not _looks_like_torch_file(path):
        # Random bytes or a text file renamed: not something that could run code either.
        raise ModelError(folder, f"{path.name} is not a PyTorch weights file (neither a torch "
                                 "zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            # torch notes unusual pickle protocols before refusing or accepting; the outcome
            # is what matters here, and it is reported below.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if re.search(r"Unsupported operand|invalid load key", str(exc)):
            # Not a pickle stream at all: nothing here could run code, so do not say it might.
            raise ModelError(folder, f"{path.name} is not a PyTorch weights file (its bytes are "
                                     "not a pickle)") from exc
        reason = re.search(r"(unsupported GLOBAL[^\n]*|Unsupported [^\n]*)", str(exc), re.IGNORECASE)
        raise ModelError(folder, f"{path.name} is not a plain weights file: unpickling it would create "
                                 f"Python objects other than tensors, which could run code, so it "
                                 f"was refused and not loaded"
                                 + (f" ({reason.group(1).strip()})" if reason else "")) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        # KeyError/IndexError: torch's weights-only unpickler on a damaged pickle stream.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(folder, f"{path.name} cannot be read as PyTorch weights "
                                 f"({'the file is empty' if _is_empty(path) else detail})") from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ModelError(folder, f"{path.name} holds no state dict (found {type(obj).__name__})")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelError(folder, f"{path.name} is not a state dict: entry {key!r} holds "
                                     f"{type(value).__name__}, not a tensor")
        clean = _strip_prefixes(key)
        if clean in state:
            raise ModelError(folder, f"{path.name} holds {clean!r} twice (with and without a prefix)")
        state[clean] = value
    return state


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    return shown + (f" and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else "")


def check_state_dict(model: "nn.Module", state: Mapping[str, "torch.Tensor"],
                     folder: str | Path | None = None, source: str = "the weights") -> None:
    """Raise a ModelError naming every missing, unexpected or wrongly shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} (file {tuple(state[k].shape)} vs model {tuple(v.shape)})"
             for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong:
        parts.append(f"shape mismatches: {_listing(wrong)}")
    raise ModelError(folder, f"{source} do not fit {type(model).__name__} as config.json describes it; "
                             + "; ".join(parts))


def _to_device(model: "nn.Module", device) -> "nn.Module":
    if device is None:
        return model
    try:
        return model.to(device)
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ModelError(None, f"cannot move the model to device {device!r}: {exc}") from exc


def load_model(path: str | Path, device: "str | torch.device | None" = None) -> "nn.Module":
    """Load a model folder and return the module in eval mode.

    Parameters
    ----------
    path : str or Path
        The model folder (or a file inside it).
    device : str or torch.device, optional
        Where to put the model; CPU when None.

    Raises
    ------
    ModelError
        Missing or malformed config, unknown model, missing or unsafe weights file, weights
        that do not match the config (every offending key is named, with both shapes), or
        weights that are NaN or infinite (the keys are named).
    """
    folder = _folder_of(path)
    config = load_config(folder)
    model = build_model(config, folder)
    weights = find_weights(folder)
    state = read_state_dict(weights)
    check_state_dict(model, state, folder, source=f"the weights in {weights.name}")
    import torch

    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        # A model with NaN or infinite weights runs and labels every epoch alike: refuse it.
        raise ModelError(folder, f"{weights.name} holds non-finite values in {_listing(bad)}; "
                                 "the model cannot be used")
    model.load_state_dict(state, strict=True)
    return _to_device(model.eval(), device)


# --------------------------------------------------------------------------------- description
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(path: str | Path, length: int = 16) -> str:
    """A short identity of a model folder: sha256 over its canonical config and weights bytes.

    Two folders share it exactly when their ``config.json`` hold the same JSON (key order and
    whitespace aside) and their weights files are byte-identical. Used as provenance in
    exported embeddings and reports.
    """
    folder = _folder_of(path)
    canonical = json.dumps(load_config(folder), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(canonical.encode("utf-8")).hexdigest().encode())
    digest.update(b":")
    digest.update(_sha256_file(find_weights(folder)).encode())
    return digest.hexdigest()[:length]


def load_metadata(path: str | Path) -> dict | None:
    """The ``metadata.json`` of a model folder, or None when it has none (official folders)."""
    meta = _folder_of(path) / METADATA_FILE
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(meta.parent, f"{METADATA_FILE} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(meta.parent, f"{METADATA_FILE} must hold a JSON object")
    return data


@dataclass(frozen=True)
class ModelInfo:
    """What a model folder holds.

    Attributes
    ----------
    path : Path
        The model folder.
    kind : str
        ``"base"``, ``"staging"`` or ``"diagnosis"``.
    model_class : str
        The class named by ``config["model"]``.
    n_parameters : int
        All parameters (buffers such as the positional table excluded).
    embed_dim : int
    num_classes : int or None
        Outputs of a head (5 stages, 1065 phecodes); None for the base.
    max_seq_length : int
        Tokens one forward may hold (rows of the positional table).
    weights_file : str
        ``best.pt`` or ``best.pth``.
    config_hash : str
        See :func:`config_hash`.
    config : dict
    metadata : dict or None
        ``metadata.json`` when present.
    """

    path: Path
    kind: str
    model_class: str
    n_parameters: int
    embed_dim: int
    num_classes: int | None
    max_seq_length: int
    weights_file: str
    config_hash: str
    config: dict = field(repr=False)
    metadata: dict | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """A JSON-serialisable view."""
        return {
            "path": str(self.path), "kind": self.kind, "model_class": self.model_class,
            "n_parameters": self.n_parameters, "embed_dim": self.embed_dim,
            "num_classes": self.num_classes, "max_seq_length": self.max_seq_length,
            "weights_file": self.weights_file, "config_hash": self.config_hash,
            "config": self.config, "metadata": self.metadata,
        }


def info_for(model: "nn.Module", path: str | Path) -> ModelInfo:
    """Describe an already loaded ``model`` from the folder it came from."""
    folder = _folder_of(path)
    config = load_config(folder)
    pe = model.positional_encoding.pe
    return ModelInfo(
        path=folder.resolve(), kind=model_kind(config), model_class=config["model"],
        n_parameters=sum(p.numel() for p in model.parameters()),
        embed_dim=int(pe.shape[-1]), num_classes=getattr(model, "num_classes", None),
        max_seq_length=int(pe.shape[1]), weights_file=find_weights(folder).name,
        config_hash=config_hash(folder), config=config, metadata=load_metadata(folder))


def describe_model(path: str | Path) -> ModelInfo:
    """Load (and so validate) a model folder and describe it."""
    return info_for(load_model(path), path)


# ------------------------------------------------------------------------------------- release
@dataclass
class Release:
    """The models of a release folder, loaded and in eval mode.

    Each model is also an attribute named by its kind (``release.base``, ``release.staging``,
    ``release.diagnosis``, and any kind a registered training task adds): None when absent.

    Attributes
    ----------
    path : Path
        The release folder (or the single model folder it was made from).
    models : dict
        Kind -> the model (``nn.Module``), for the models present.
    info : dict
        :class:`ModelInfo` by kind, for the models present.
    label_mapping : Path or None
        A ``label_mapping.csv`` shipped with the diagnosis model or the release, if any.
    """

    path: Path
    models: "dict[str, nn.Module]" = field(default_factory=dict)
    info: dict[str, ModelInfo] = field(default_factory=dict)
    label_mapping: Path | None = None

    def __getattr__(self, name: str):
        # Only reached when ordinary lookup fails: the model kinds of the task registry.
        if name in release_folder_names():
            return self.__dict__.get("models", {}).get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def kinds(self) -> list[str]:
        """Kinds present, in release order (the base first)."""
        return [k for k in release_folder_names() if k in self.models]

    def require(self, kind: str) -> "nn.Module":
        """The model of ``kind``, or a ModelError saying the release lacks it."""
        folders = release_folder_names()
        if kind not in folders:
            raise ValueError(f"kind must be one of {', '.join(folders)}, not {kind!r}")
        model = self.models.get(kind)
        if model is None:
            sub = Path(self.path) / folders[kind]
            if sub.is_dir() and not (sub / CONFIG_FILE).is_file():
                raise ModelError(sub, f"holds no {CONFIG_FILE}, so its {kind} model cannot be "
                                      "built (copy the release's config.json into it)")
            raise ModelError(self.path, f"holds no {kind} model (expected a {folders[kind]}/ "
                                        f"folder beside the others)")
        return model


def release_folders(path: str | Path) -> dict[str, Path]:
    """Model folders of a release by kind, without loading any weights.

    A folder with its own ``config.json`` is a single model; otherwise the canonical
    sub-folders are used, and for a kind without one, the single other sub-folder whose config
    names a model of that kind (two candidates are an error).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ModelError(root, "no such folder" if not root.exists() else "not a folder")
    if (root / CONFIG_FILE).is_file():
        return {model_kind(load_config(root)): root}
    layout = release_folder_names()
    found: dict[str, Path] = {}
    for kind, sub in layout.items():
        if (root / sub / CONFIG_FILE).is_file():
            found[kind] = root / sub
    others: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub in found.values() or not (sub / CONFIG_FILE).is_file():
            continue
        others.setdefault(model_kind(load_config(sub)), []).append(sub)
    for kind, subs in others.items():
        if kind in found:
            continue
        if len(subs) > 1:
            raise ModelError(root, f"holds several {kind} models ({', '.join(p.name for p in subs)}); "
                                   f"name one {layout[kind]}/ or point at it directly")
        found[kind] = subs[0]
    if not found:
        raise ModelError(root, f"is neither a model folder (no {CONFIG_FILE}) nor a release folder "
                               f"(no {'/, '.join(layout.values())}/ with a {CONFIG_FILE})")
    return {k: found[k] for k in layout if k in found}


def load_release(path: str | Path, device: "str | torch.device | None" = None,
                 kinds: list[str] | tuple[str, ...] | None = None) -> Release:
    """Load a release folder (``model_base/``, ``model_sleep_staging/``, ``model_diagnosis/``).

    Parameters
    ----------
    path : str or Path
        The release folder, or a single model folder (then only that model is set).
    device : str or torch.device, optional
        Where to put the models.
    kinds : sequence of str, optional
        Load only these kinds (the others stay None even when present).
    """
    folders = release_folders(path)
    release = Release(path=Path(path).expanduser().resolve())
    for kind, folder in folders.items():
        if kinds is not None and kind not in kinds:
            continue
        model = load_model(folder, device=device)
        release.models[kind] = model
        release.info[kind] = info_for(model, folder)
    for candidate in ([folders["diagnosis"]] if "diagnosis" in folders else []) + [release.path]:
        if (candidate / "label_mapping.csv").is_file():
            release.label_mapping = (candidate / "label_mapping.csv").resolve()
            break
    return release


# ---------------------------------------------------------------------------------------- save
def _unwrap(module: "nn.Module") -> "nn.Module":
    """The model inside DataParallel/DDP (``.module``) or torch.compile (``._orig_mod``)."""
    from torch import nn

    for attr in ("module", "_orig_mod"):
        inner = getattr(module, attr, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    return module


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"


def save_model(module: "nn.Module", config: Mapping, folder: str | Path,
               metadata: Mapping | None = None, overwrite: bool = True) -> Path:
    """Save a model in the official folder layout plus ``metadata.json``, atomically.

    The weights go where the official release puts them, with its ``module.`` key prefix, so
    the reference scripts read them too: a base model as ``best.pt`` =
    ``{"epoch", "state_dict"}``, a head as ``best.pth`` = the state dict.

    Parameters
    ----------
    module : nn.Module
        One of the SleepFM model classes (a DataParallel/DDP/compiled wrapper is unwrapped).
    config : mapping
        Its config as ``load_model`` reads it: ``"model"`` (filled in from the class if absent)
        and the constructor arguments (top level for the base, ``"model_params"`` for heads).
        It must rebuild exactly this module's state-dict layout.
    folder : str or Path
        The model folder to write.
    metadata : mapping, optional
        Saved in ``metadata.json`` beside what the engine adds (format, engine version, UTC
        time, class, kind, parameter count, preprocessing contract). Conventional keys:
        ``channel_mapping``, ``provenance``, ``metrics``, ``epoch``. Must be JSON-serialisable.
    overwrite : bool
        Replace an existing model folder (its other files are kept). A non-empty folder that is
        not a model folder is never replaced.

    Returns
    -------
    Path
        The folder.
    """
    from . import __version__
    from .contract import contract_dict
    from .models import MODEL_CLASSES

    model = _unwrap(module)
    class_name = type(model).__name__
    if class_name not in MODEL_CLASSES:
        raise TypeError(f"cannot save a {class_name}: not a SleepFM model class "
                        f"({', '.join(sorted(MODEL_CLASSES))})")
    config = json.loads(json.dumps(dict(config)))  # a deep, JSON-clean copy
    if config.setdefault("model", class_name) != class_name:
        raise ValueError(f"config names model {config['model']!r} but the module is a {class_name}")
    target = Path(folder).expanduser()
    check_state_dict(build_model(config, target), model.state_dict(), target,
                     source=f"the {class_name} being saved")
    kind = model_kind(class_name)
    state = {f"module.{k}": v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    meta = dict(metadata or {})
    info: dict[str, Any] = {"contract": contract_dict(), "channel_mapping": None,
                            "provenance": None, "metrics": None}
    info.update(meta)
    # What the engine knows for certain is not the caller's to override.
    info.update({
        "format": "sleepfm-studio model folder", "format_version": 1,
        "engine_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": class_name, "kind": kind,
        "n_parameters": sum(p.numel() for p in model.parameters()),
    })
    config_text, meta_text = _json_text(config), _json_text(info)  # fail before writing anything

    if target.exists():
        if not target.is_dir():
            raise ModelError(target, "exists and is not a folder")
        has_model = (target / CONFIG_FILE).exists() or any((target / w).exists() for w in WEIGHT_FILES)
        if has_model and not overwrite:
            raise ModelError(target, "already holds a model (pass overwrite=True to replace it)")
        if not has_model and any(target.iterdir()):
            raise ModelError(target, "is a non-empty folder that holds no model; refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.saving-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        import torch

        if kind == BASE_KIND:
            torch.save({"epoch": int(meta.get("epoch", 0)), "state_dict": state}, staging / "best.pt")
        else:
            torch.save(state, staging / "best.pth")
        (staging / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        (staging / METADATA_FILE).write_text(meta_text, encoding="utf-8")
        ours = {CONFIG_FILE, METADATA_FILE, *WEIGHT_FILES}
        if target.exists():
            for item in target.iterdir():
                if item.name not in ours:
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, staging / item.name)
        replace_folder(staging, target)
    except BaseException:
        if staging.exists():
            remove_tree(staging)
        raise
    return target


def replace_folder(ready: Path, target: Path) -> None:
    """Move the finished folder ``ready`` onto ``target``: old folder aside, new in, old removed."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(ready, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        remove_tree(old)


def remove_tree(path: Path) -> None:
    """Delete a folder; what cannot be deleted is reported as a warning, not hidden."""
    def report(_func, failed, exc):
        exc = exc[1] if isinstance(exc, tuple) else exc
        warnings.warn(f"could not delete {failed}: {exc}", RuntimeWarning, stacklevel=3)

    if "onexc" in inspect.signature(shutil.rmtree).parameters:  # Python >= 3.12
        shutil.rmtree(path, onexc=report)
    else:
        shutil.rmtree(path, onerror=report)
