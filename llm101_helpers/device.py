"""Device choice and notebook setup.

``get_device()`` picks the fastest device the machine has (CUDA, then Apple's
MPS, then the CPU). Set the environment variable ``LLM101_DEVICE`` (``cpu``,
``cuda``, ``cuda:1``, ``mps``) to choose one yourself, for example to run a
notebook on the CPU on a machine that has a GPU.

``setup_notebook()`` makes a notebook's printed output the same on every
machine: it seeds every random number generator, fixes torch's print format,
and fixes matplotlib's figure format and size. The course creates random
tensors and weights on the CPU and then moves them to the device, so a run on a
GPU shows the same numbers as a run on a CPU.
"""

from __future__ import annotations

import os
import random
import re

import numpy as np
import torch

__all__ = ["DEVICE_ENV_VAR", "describe_device", "get_device", "seed_everything", "setup_notebook"]

DEVICE_ENV_VAR = "LLM101_DEVICE"
_DEVICE_NAME = re.compile(r"^(cpu|mps|cuda)(:\d+)?$")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _check_available(name: str, source: str) -> torch.device:
    """Turn ``name`` into a device, raising a clear error if it cannot be used here."""
    match = _DEVICE_NAME.match(name)
    if match is None:
        raise ValueError(
            f"unknown device {name!r} (from {source}); expected one of "
            "'cpu', 'cuda', 'cuda:N' or 'mps'"
        )
    kind = match.group(1)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {name!r} (from {source}) was requested, but CUDA is not available "
                f"in this PyTorch build ({torch.__version__}) or on this machine"
            )
        index = int(match.group(2)[1:]) if match.group(2) else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise RuntimeError(
                f"device {name!r} (from {source}) was requested, but this machine has "
                f"{count} CUDA device(s) (valid indices 0..{count - 1})"
            )
    elif kind == "mps":
        if match.group(2):
            raise ValueError(f"device {name!r} (from {source}): MPS takes no index; use 'mps'")
        if not _mps_available():
            raise RuntimeError(
                f"device {name!r} (from {source}) was requested, but MPS is not available "
                "(it needs Apple silicon and a PyTorch build with MPS)"
            )
    elif match.group(2):
        raise ValueError(f"device {name!r} (from {source}): the CPU takes no index; use 'cpu'")
    return torch.device(name)


def get_device(name: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Order of choice: the ``name`` argument (a string such as ``"cuda:1"`` or a
    ``torch.device``), then the ``LLM101_DEVICE`` environment variable, then the
    best available of CUDA, MPS and CPU. An unknown name raises ``ValueError``;
    a known device that this machine cannot use raises ``RuntimeError``.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(
                f"device name must be a string or a torch.device, got {type(name).__name__} "
                f"{name!r}"
            )
        return _check_available(name.strip().lower(), "the name argument")
    env = os.environ.get(DEVICE_ENV_VAR, "").strip().lower()
    if env:
        return _check_available(env, f"the {DEVICE_ENV_VAR} environment variable")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | str | None = None) -> str:
    """One line saying what ``device`` is, e.g. ``cuda:0 (NVIDIA H100, 79.1 GiB)``.

    The device must exist on this machine: as for :func:`get_device`, an unknown
    name raises ``ValueError`` and an unavailable one ``RuntimeError``.
    """
    device = get_device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps (Apple silicon GPU)"
    return f"cpu ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def setup_notebook(seed: int = 123) -> torch.device:
    """Make a notebook's outputs reproducible and return the device to use.

    Seeds every generator, prints tensors with 4 decimals and no scientific
    notation, and fixes matplotlib's inline figure format (PNG), size and
    resolution so figures look the same everywhere.
    """
    seed_everything(seed)
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    _setup_matplotlib()
    return get_device()


def _setup_matplotlib() -> None:
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.0, 4.0),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "font.size": 10,
            "axes.grid": False,
            "svg.hashsalt": "llm101",
        }
    )
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is not installed
        return
    if get_ipython() is None:  # a plain Python process: no inline backend to set
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("png")
