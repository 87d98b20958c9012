"""Type stubs for tilecopy (the compiled _tilecopy and the pure-Python part)."""

from typing import Any, Dict, List, Literal, Optional, Sequence, TypeVar, Union, overload

import torch

__version__: str
torch_version: str

_T = TypeVar("_T", bound=torch.Tensor)
_S = TypeVar("_S", bound=Sequence[torch.Tensor])
_Kind = Literal["crc32c", "crc32"]
# AllocOptions as keywords (None: the default).
_HugePages = Optional[Literal["default", "auto", "always", "never"]]
_Placement = Optional[Literal["default", "node", "interleave", "copier"]]
_Populate = Optional[Literal["now", "first_copy"]]

class Error(RuntimeError):
    """Every input tilecopy refuses; the C++ message (torch's wording where copy_ would refuse).
    Nothing was written to the destination."""

class Handle:
    """An asynchronous copy; keeps its tensors alive until done."""
    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks (GIL released) until done: True; raises the copy's error (Error, or the
        exception a __torch_dispatch__ raised). With a timeout in seconds: False if still running
        then. Ctrl-C interrupts the wait (KeyboardInterrupt); the copy goes on."""
    def result(self) -> Any:
        """Waits as wait() does; the clones of clone/clone_batch(non_blocking=True) or the
        snapshot of snapshot(), None for a copy."""
    def done(self) -> bool: ...
    @property
    def bytes_copied(self) -> int: ...
    @property
    def bytes_total(self) -> int: ...
    def checksum(self) -> int:
        """Waits, then the checksum of a copy started with checksum=... (Error for a batch of
        several pairs or a copy started without one)."""
    def checksums(self) -> Any:
        """Waits, then one checksum per pair of a copy started with checksum=... (a list); for a
        snapshot, its structure with each copied tensor's checksum and None elsewhere."""
    def cancel(self) -> None:
        """Stops the copy at the next block boundary; wait() then raises Error("... cancelled
        after N of M bytes"), N = bytes_copied (finished blocks only). Never blocks."""
    @property
    def started_at(self) -> Optional[float]: ...
    @property
    def finished_at(self) -> Optional[float]: ...
    @property
    def seconds(self) -> float: ...
    @property
    def bytes_per_second(self) -> float: ...

_Priority = Literal["foreground", "background"]
_NonCpu = Literal["error", "keep"]

class Engine:
    """A copy engine with its own threads; keyword arguments are tilecopy::Options
    (None: the default). Unknown keywords raise TypeError, bad values ValueError or Error."""
    def __init__(
        self,
        *,
        threads: Optional[int] = None,
        numa: Optional[Literal["auto", "interleave", "node", "off"]] = None,
        numa_node: Optional[int] = None,
        kernel: Optional[Literal["scalar", "avx2", "avx512"]] = None,
        tile_bytes: Optional[int] = None,
        block_bytes: Optional[int] = None,
        inline_threshold: Optional[int] = None,
        nontemporal_threshold: Optional[Union[int, Literal["never"]]] = None,
        linger_us: Optional[int] = None,
        pin_threads: Optional[bool] = None,
        topology_synthetic: Optional[str] = None,
        topology_xml: Optional[str] = None,
        async_threads: Optional[int] = None,
        async_bytes_per_second: Optional[Union[int, float]] = None,
        async_priority: Optional[_Priority] = None,
    ) -> None: ...
    def copy_(self, dst: _T, src: torch.Tensor) -> _T: ...
    def copy_async(self, dst: torch.Tensor, src: torch.Tensor, *, checksum: Optional[_Kind] = None,
                   threads: Optional[int] = None, bytes_per_second: Optional[Union[int, float]] = None,
                   priority: Optional[_Priority] = None) -> Handle: ...
    def copy_batch(self, dsts: _S, srcs: Sequence[torch.Tensor]) -> _S: ...
    def copy_batch_async(self, dsts: Sequence[torch.Tensor], srcs: Sequence[torch.Tensor], *,
                         checksum: Optional[_Kind] = None, threads: Optional[int] = None,
                         bytes_per_second: Optional[Union[int, float]] = None,
                         priority: Optional[_Priority] = None) -> Handle: ...
    @overload
    def clone(self, tensor: torch.Tensor, *, non_blocking: Literal[False] = ...,
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> torch.Tensor: ...
    @overload
    def clone(self, tensor: torch.Tensor, *, non_blocking: Literal[True],
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> Handle: ...
    def clone_batch(self, tensors: Any, *, non_blocking: bool = False,
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> Any: ...
    def empty_like(self, tensor: torch.Tensor, *,
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> torch.Tensor: ...
    def prefault(self, tensor: torch.Tensor, for_write: bool = True) -> None: ...
    @overload
    def snapshot(self, obj: Any, *, into: Any = None, non_blocking: Literal[True] = ...,
            checksum: Optional[_Kind] = None, non_cpu: _NonCpu = "error", threads: Optional[int] = None,
            bytes_per_second: Optional[Union[int, float]] = None, priority: Optional[_Priority] = None,
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> Handle: ...
    @overload
    def snapshot(self, obj: Any, *, into: Any = None, non_blocking: Literal[False],
            checksum: Optional[_Kind] = None, non_cpu: _NonCpu = "error",
            huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
            populate: _Populate = None) -> Any: ...
    def stats(self) -> Dict[str, Any]: ...
    def describe(self) -> List[str]: ...
    @property
    def kernel(self) -> str: ...
    @property
    def options(self) -> Dict[str, Any]: ...

def default_engine() -> Engine: ...
def copy_(dst: _T, src: torch.Tensor) -> _T:
    """torch.Tensor.copy_'s semantics on the default engine, GIL released; returns dst."""
def copy_async(dst: torch.Tensor, src: torch.Tensor, *, checksum: Optional[_Kind] = None,
               threads: Optional[int] = None, bytes_per_second: Optional[Union[int, float]] = None,
               priority: Optional[_Priority] = None) -> Handle: ...
def copy_batch(dsts: _S, srcs: Sequence[torch.Tensor]) -> _S: ...
def copy_batch_async(dsts: Sequence[torch.Tensor], srcs: Sequence[torch.Tensor], *,
                     checksum: Optional[_Kind] = None, threads: Optional[int] = None,
                     bytes_per_second: Optional[Union[int, float]] = None,
                     priority: Optional[_Priority] = None) -> Handle: ...
@overload
def copy_with_checksum(dst: torch.Tensor, src: torch.Tensor, kind: str = "crc32c") -> int: ...
@overload
def copy_with_checksum(dst: Sequence[torch.Tensor], src: Sequence[torch.Tensor], kind: str = "crc32c") -> List[int]: ...
def checksum(tensor: torch.Tensor, kind: str = "crc32c") -> int: ...
def deepspeed_py_memcpy(dst: torch.Tensor, src: torch.Tensor) -> int:
    """DeepSpeed's deepspeed_py_memcpy: copy_ on the default engine; returns 0."""
@overload
def clone(tensor: torch.Tensor, *, non_blocking: Literal[False] = ...,
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None) -> torch.Tensor: ...
@overload
def clone(tensor: torch.Tensor, *, non_blocking: Literal[True],
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None) -> Handle: ...
def clone_batch(tensors: Any, *, non_blocking: bool = False,
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None) -> Any: ...
def empty_like(tensor: torch.Tensor, *,
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None) -> torch.Tensor: ...
def prefault(tensor: torch.Tensor, for_write: bool = True) -> None: ...
@overload
def snapshot(obj: Any, *, into: Any = None, non_blocking: Literal[True] = ...,
        checksum: Optional[_Kind] = None, non_cpu: _NonCpu = "error", threads: Optional[int] = None,
        bytes_per_second: Optional[Union[int, float]] = None, priority: Optional[_Priority] = None,
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None, engine: Optional[Engine] = None) -> Handle:
    """A copy of a tensor or a nested dict/list/tuple of them (a state_dict) in tilecopy memory, as
    one schedule; into= reuses a previous snapshot's matching tensors. Background priority unless
    told otherwise. Handle.result() gives the structure; checksums() a matching structure."""
@overload
def snapshot(obj: Any, *, into: Any = None, non_blocking: Literal[False],
        checksum: Optional[_Kind] = None, non_cpu: _NonCpu = "error",
        huge_pages: _HugePages = None, placement: _Placement = None, node: Optional[int] = None,
        populate: _Populate = None, engine: Optional[Engine] = None) -> Any:
    """The structure now (a synchronous copy); with checksum, a tuple (structure, checksums)."""
def stats() -> Dict[str, Any]: ...
def describe() -> List[str]: ...
def info(
    numa: str = "auto",
    threads: Optional[int] = None,
    pin_threads: bool = True,
    synthetic: Optional[str] = None,
    xml: Optional[str] = None,
) -> Dict[str, Any]:
    """What `tilecopy-info --json` prints, as a dict."""
