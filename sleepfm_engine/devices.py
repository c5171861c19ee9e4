"""Where the models run: device choice, optional bf16 autocast, and torchrun sharding.

``select_device("auto")`` takes CUDA when present, then Apple's MPS, then the CPU; an explicit
``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"`` is honoured or refused with a reason. Nothing
here names a device unless asked to. Importing this module does not import torch.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: Precisions the inference accepts: full float32, or bfloat16 autocast (CUDA only).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: "str | torch.device | None" = None) -> "torch.device":
    """Return the device to run on.

    Parameters
    ----------
    preference : str or torch.device, optional
        ``None`` or ``"auto"``: CUDA if available, then MPS, then CPU. Otherwise a device
        string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a ``torch.device``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the named device is not a valid device string or is not available here.
    """
    import torch

    if preference is None or (isinstance(preference, str) and preference.strip().lower() in ("", "auto")):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = preference if isinstance(preference, torch.device) else torch.device(str(preference).strip().lower())
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"invalid device {preference!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {preference!r} was asked for but CUDA is not available here "
                             f"(torch {torch.__version__}); use --device cpu or auto")
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {preference!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {preference!r} was asked for but Apple MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device type {device.type!r} is not supported; use cpu, cuda or mps")
    return device


def describe_device(device: "torch.device") -> str:
    """A human-readable name of a device, e.g. ``"cuda:0 (NVIDIA H100 80GB HBM3)"``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def check_precision(precision: str, device: "torch.device") -> str:
    """Validate a precision for a device; bf16 off CUDA falls back to fp32 with a warning."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and device.type != "cuda":
        warnings.warn(f"bf16 autocast is only used on CUDA; running fp32 on {device}", RuntimeWarning,
                      stacklevel=3)
        return "fp32"
    return precision


@contextlib.contextmanager
def inference_context(device: "torch.device", precision: str = "fp32") -> Iterator[None]:
    """``torch.inference_mode`` plus, for ``precision="bf16"`` on CUDA, bfloat16 autocast."""
    import torch

    with torch.inference_mode():
        if precision == "bf16" and device.type == "cuda":
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                yield
        else:
            yield


def module_device(module) -> "torch.device":
    """The device of a module's first parameter (CPU for a module without parameters)."""
    import torch

    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@dataclass(frozen=True)
class Shard:
    """This process's part of a file list when several processes share it (``torchrun`` or
    ``srun``).

    Attributes
    ----------
    rank, world_size : int
        From ``RANK`` / ``WORLD_SIZE``, else SLURM's ``SLURM_PROCID`` / ``SLURM_NTASKS``
        (0 and 1 when neither is set).
    local_rank : int or None
        From ``LOCAL_RANK`` (else ``SLURM_LOCALID``): the GPU this process should use on its host.
    launcher : str or None
        ``"torchrun"``, ``"slurm"`` or ``None`` (one process); not part of equality.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int | None = None
    launcher: str | None = field(default=None, compare=False)

    def take(self, items: list) -> list:
        """Every ``world_size``-th item starting at ``rank`` (a stable, disjoint split)."""
        return list(items[self.rank::self.world_size])

    @property
    def active(self) -> bool:
        return self.world_size > 1


def shard_from_env(environ: dict | None = None) -> Shard:
    """Read the launcher's environment: ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``),
    else an ``srun`` step (``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``, ``SLURM_LOCALID``), so that
    ``srun`` without torchrun splits the files between its tasks instead of every task doing
    every file.

    torchrun's variables come first: under ``srun torchrun`` SLURM's describe the torchrun agents,
    not the processes. SLURM counts only inside an ``srun`` step (``SLURM_STEP_NUM_TASKS`` set):
    a batch script also carries ``SLURM_PROCID=0`` and the allocation's ``SLURM_NTASKS``, and a
    program run there directly is the only process, so sharding it would silently drop files.
    The step's own task count is used rather than the allocation's ``SLURM_NTASKS``.

    Raises
    ------
    ValueError
        If the variables are present but not integers, or the rank is out of range.
    """
    env = os.environ if environ is None else environ

    def read(name: str, default: int | None) -> int | None:
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None

    def checked(rank_var: str, world_var: str, local_var: str, launcher: str) -> Shard:
        world, rank = read(world_var, 1), read(rank_var, 0)
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"{rank_var}={rank} is not in 0..{world_var}-1 ({world_var}={world})")
        return Shard(rank=rank, world_size=world, local_rank=read(local_var, None), launcher=launcher)

    if env.get("RANK") or env.get("WORLD_SIZE"):
        return checked("RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun")
    if env.get("SLURM_STEP_NUM_TASKS") and env.get("SLURM_PROCID"):
        return checked("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "slurm")
    return Shard()


def device_for_shard(preference: str | None, shard: Shard) -> "torch.device":
    """The device of one ``torchrun`` process: with ``auto``/``cuda`` and several processes,
    the GPU ``LOCAL_RANK`` (modulo the GPU count); otherwise :func:`select_device`."""
    import torch

    wants_cuda = preference is None or str(preference).lower() in ("auto", "", "cuda")
    if shard.active and wants_cuda and torch.cuda.is_available():
        index = (shard.local_rank if shard.local_rank is not None else shard.rank) % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return select_device(preference)
