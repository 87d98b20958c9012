"""tilecopy: tensor copies at the speed of memory, for PyTorch trainers.

    import tilecopy
    tilecopy.copy_(dst, src)                    # torch's Tensor.copy_ semantics, GIL released
    h = tilecopy.copy_batch_async(dsts, srcs)   # one schedule for many pairs; returns at once
    h.wait()
    copy = tilecopy.clone_batch(model.state_dict())      # fresh memory, one schedule
    h = tilecopy.snapshot(optimizer.state_dict(), into=previous, bytes_per_second=2e9)
    previous = h.result()                       # background copy into the previous snapshot
    engine = tilecopy.Engine(threads=2, numa="off")

Every call releases the GIL while it copies or waits. Refused inputs raise tilecopy.Error (a
RuntimeError) with the C++ library's message, and nothing is written.
"""

import atexit as _atexit
import json as _json

import torch as _torch

from . import _build_info

# The compiled module reads the at::Tensor inside torch's Python objects, whose layout belongs to
# the torch it was compiled against; check before loading it (it checks again itself).
if _torch.__version__ != _build_info.TORCH_VERSION:
    raise ImportError(
        f"tilecopy was built for torch {_build_info.TORCH_VERSION}, but this is torch "
        f"{_torch.__version__} ({_torch.__file__}): rebuild tilecopy with this torch's interpreter "
        "(-Dpython_interpreter=...)")

from ._tilecopy import (  # noqa: E402
    Engine,
    Error,
    Handle,
    checksum,
    clone,
    clone_batch,
    copy_,
    copy_async,
    copy_batch,
    copy_batch_async,
    copy_with_checksum,
    deepspeed_py_memcpy,
    default_engine,
    empty_like,
    prefault,
    snapshot,
)

# A copy still queued at exit may need Python (a __torch_dispatch__ tensor's copy_); once
# finalization begins, a thread asking for the GIL is made to exit. Finish them first.
from ._tilecopy import _finish_pending  # noqa: E402

_atexit.register(_finish_pending)

__version__ = _build_info.TILECOPY_VERSION
torch_version = _build_info.TORCH_VERSION

__all__ = [
    "Engine", "Error", "Handle", "checksum", "clone", "clone_batch", "copy_", "copy_async", "copy_batch",
    "copy_batch_async", "copy_with_checksum", "deepspeed_py_memcpy", "default_engine", "describe", "empty_like",
    "info", "prefault", "snapshot", "stats",
]


def stats():
    """The default engine's counters as a dict (see Engine.stats)."""
    return default_engine().stats()


def describe():
    """The default engine's description, one line per item (see Engine.describe)."""
    return default_engine().describe()


def info(numa="auto", threads=None, pin_threads=True, synthetic=None, xml=None):
    """What `tilecopy-info --json` prints, as a dict: NUMA nodes, arenas and their pinning,
    kernel, caches, thresholds and describe() lines of an engine made with these settings
    (the tool's flags: --numa auto|interleave|off|node:N, --threads, --no-pin, --synthetic, --xml).
    """
    from . import _tilecopy
    if not hasattr(_tilecopy, "info_json"):
        raise Error("tilecopy.info() is not available: this build has no info_json "
                    "(it needs nlohmann-json at build time, like tilecopy-info)")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 0):
        raise ValueError(f"tilecopy.info: threads must be an int >= 0 or None, got {threads!r}")
    return _json.loads(_tilecopy.info_json(numa, threads or 0, bool(pin_threads), synthetic or "", xml or ""))
