// tilecopy._tilecopy: the Python bindings. Every copy and every wait runs with the GIL released;
// tensors are read straight from torch's Python objects (THPVariable), so a call costs a
// pybind11 dispatch and no conversion. C++ errors pass through with their message unchanged:
// tilecopy::Error and the c10::Error of a copy_ that tilecopy handed a pair become tilecopy.Error
// (a RuntimeError), translated for this module only (torch._C may share pybind11's internals).
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/cpp_stacktraces.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <tilecopy/async_runner.hpp>
#include <tilecopy/torch.hpp>
#include <tilecopy/version.hpp>

#include "checksum_module.hpp"
#include "engine_options.hpp"
#include "handle.hpp"
#ifdef TILECOPY_PYTHON_INFO
#include "info_module.hpp"
#endif
#include "memory_module.hpp"
#include "python_threads.hpp"
#include "snapshot_module.hpp"
#include "tensor_args.hpp"

#ifndef TILECOPY_TORCH_VERSION
#error "TILECOPY_TORCH_VERSION: the torch.__version__ this module is built for (python/tilecopy/meson.build)"
#endif

namespace py = pybind11;

namespace tilecopy::python {
namespace {

// torch's warnings from a copy_ that tilecopy hands a pair (complex to real: "Casting complex
// values to real discards the imaginary part") reach Python's warnings module as they do from
// Tensor.copy_: torch's handler buffers them on this thread while the GIL is released and issues
// them when the call returns, as torch's own bindings do (HANDLE_TH_ERRORS). Copies on the
// submitter thread (the async calls) warn through torch's C++ handler instead.
template <class Body>
auto with_torch_warnings(Body&& body) {
    torch::PyWarningHandler handler;
    try {
        return body();
    } catch (...) {
        handler.set_in_exception(); // its destructor must not throw during the unwinding
        throw;
    }
}

// A clone in flight as a Handle: result() gives the clones.
// `owner`: the Engine's Python object, kept until the copy is done (None: the default engine).
std::unique_ptr<Handle> clone_handle(CopyEngine& engine, py::handle tensors, bool batch, const AllocOptions& options,
                                     py::object owner) {
    StartedClone started = clone_started(engine, tensors, batch, options);
    auto h = std::make_unique<Handle>(std::move(started.copy), py::make_tuple(std::move(started.held), std::move(owner)));
    h->value = std::move(started.result);
    return h;
}

// clone / clone_batch with their keywords, on `engine`: the clones, or a Handle when non_blocking.
py::object clone_call(CopyEngine& engine, py::object owner, py::handle tensors, bool batch, bool non_blocking,
                      py::handle huge_pages, py::handle placement, py::handle node, py::handle populate) {
    const AllocOptions o = alloc_options(batch ? "tilecopy.clone_batch" : "tilecopy.clone", huge_pages, placement,
                                         node, populate);
    if (non_blocking) return py::cast(clone_handle(engine, tensors, batch, o, std::move(owner)));
    return clone_now(engine, tensors, batch, o);
}

py::object empty_like_call(CopyEngine& engine, py::handle tensor, py::handle huge_pages, py::handle placement,
                           py::handle node, py::handle populate) {
    return empty_like_now(engine, tensor,
                          alloc_options("tilecopy.empty_like", huge_pages, placement, node, populate));
}

// At interpreter exit (the package's atexit hook, while Python still runs other threads):
// waits for every copy in flight then, so that none is left needing the GIL (a
// __torch_dispatch__ tensor's copy_) once finalization makes threads that ask for it exit.
// Copies that daemon threads submit meanwhile are not waited for: exit must not wait on them.
void finish_pending() {
    std::vector<py::object> pending; // their Python objects: no other thread can destroy one meanwhile
    for (Handle* h : Handle::live())
        if (!h->handle.done()) pending.push_back(py::cast(h, py::return_value_policy::reference));
    for (const py::object& owner : pending) {
        Handle& h = owner.cast<Handle&>();
        NoGil released;
        (void)h.handle.wait_for(std::chrono::nanoseconds::max());
    }
}

// An Engine owns its CopyEngine, or names the process's default one.
struct Engine {
    std::unique_ptr<CopyEngine> owned;
    CopyEngine* engine;

    explicit Engine(CopyEngine& shared) noexcept : engine(&shared) {}
    explicit Engine(const Options& options) {
        NoGil released; // loading the topology and starting arenas takes milliseconds
        owned = std::make_unique<CopyEngine>(options);
        engine = owned.get();
    }
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    ~Engine() {
        if (owned && !_Py_IsFinalizing()) {
            NoGil released; // waits for unfinished asynchronous copies, joins threads
            owned.reset();
        }
    }
};

py::object copy_on(CopyEngine& engine, py::handle dst, py::handle src) {
    const at::Tensor& d = tensor_arg(dst, "tilecopy.copy_", "dst");
    const at::Tensor& s = tensor_arg(src, "tilecopy.copy_", "src");
    with_torch_warnings([&] {
        NoGil released;
        engine.copy(d, s);
    });
    return py::reinterpret_borrow<py::object>(dst);
}

std::unique_ptr<Handle> copy_async_on(CopyEngine& engine, py::handle dst, py::handle src, Checksum kind,
                                      const AsyncOptions& limits) {
    const at::Tensor& d = tensor_arg(dst, "tilecopy.copy_async", "dst");
    const at::Tensor& s = tensor_arg(src, "tilecopy.copy_async", "src");
    py::object held = py::make_tuple(dst, src);
    CopyHandle handle;
    {
        NoGil released;
        handle = engine.copy_async(d, s, kind, limits);
    }
    return std::make_unique<Handle>(std::move(handle), std::move(held));
}

py::object copy_batch_on(CopyEngine& engine, py::handle dsts, py::handle srcs) {
    const std::vector<at::Tensor> d = tensor_list(dsts, "tilecopy.copy_batch", "dsts");
    const std::vector<at::Tensor> s = tensor_list(srcs, "tilecopy.copy_batch", "srcs");
    with_torch_warnings([&] {
        NoGil released;
        engine.copy_batch(d, s);
    });
    return py::reinterpret_borrow<py::object>(dsts);
}

std::unique_ptr<Handle> copy_batch_async_on(CopyEngine& engine, py::handle dsts, py::handle srcs, Checksum kind,
                                            const AsyncOptions& limits) {
    const std::vector<at::Tensor> d = tensor_list(dsts, "tilecopy.copy_batch_async", "dsts");
    const std::vector<at::Tensor> s = tensor_list(srcs, "tilecopy.copy_batch_async", "srcs");
    py::object held = py::make_tuple(py::tuple(py::reinterpret_borrow<py::object>(dsts)),
                                     py::tuple(py::reinterpret_borrow<py::object>(srcs)));
    CopyHandle handle;
    {
        NoGil released;
        handle = engine.copy_batch_async(d, s, kind, limits);
    }
    return std::make_unique<Handle>(std::move(handle), std::move(held));
}

// A handle's time as time.time() gives it, or None for the clock's epoch (not yet).
py::object time_or_none(std::chrono::system_clock::time_point t) {
    if (t == std::chrono::system_clock::time_point{}) return py::none();
    return py::float_(std::chrono::duration<double>(t.time_since_epoch()).count());
}

py::dict stats_dict(const CopyEngine& engine) {
    const Stats s = engine.stats();
    py::dict d;
    d["copies"] = s.copies;
    d["bytes"] = s.bytes;
    d["inline_copies"] = s.inline_copies;
    d["parallel_copies"] = s.parallel_copies;
    d["nontemporal_copies"] = s.nontemporal_copies;
    d["tensor_contiguous"] = s.tensor_contiguous;
    d["tensor_strided"] = s.tensor_strided;
    d["tensor_converted"] = s.tensor_converted;
    d["tensor_fallback"] = s.tensor_fallback;
    return d;
}

// For bench/python_bench.py: `iterations` copies from a C++ loop (the GIL released), so
// that Python's per-call cost can be told apart from the copy's. Returns seconds.
double time_copies(CopyEngine& engine, py::handle dst, py::handle src, std::size_t iterations, bool raw) {
    const at::Tensor& d = tensor_arg(dst, "tilecopy._time_copies", "dst");
    const at::Tensor& s = tensor_arg(src, "tilecopy._time_copies", "src");
    if (raw && (!d.is_contiguous() || !s.is_contiguous() || d.nbytes() != s.nbytes()))
        throw py::value_error("tilecopy._time_copies: raw copies need contiguous tensors of equal size");
    NoGil released;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < iterations; ++i) {
        if (raw)
            engine.copy(d.data_ptr(), s.data_ptr(), d.nbytes());
        else
            engine.copy(d, s);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

constexpr const char* kCopyDoc = R"(copy_(dst, src) -> dst

Copies src into dst with torch.Tensor.copy_'s semantics (broadcasting, dtype conversion, the same
refusals), the GIL released. Returns dst. Raises tilecopy.Error where copy_ would refuse, with
nothing written to dst.)";
constexpr const char* kCopyAsyncDoc = R"(copy_async(dst, src, *, checksum=None, threads=None, bytes_per_second=None, priority=None) -> Handle

Checks the pair now (raising tilecopy.Error, nothing written), then copies on the engine's
submitter thread. The Handle keeps both tensors alive until the copy is done; don't read dst or
write src before Handle.wait() returns. With checksum="crc32c" or "crc32", Handle.checksum() gives
the checksum of dst's bytes in row-major element order after the copy (see copy_with_checksum).

threads=, bytes_per_second=, priority= (None: the engine's default, Engine(async_threads=...)):
at most that many of the engine's threads; at most that many destination bytes a second (a
token bucket taken from block by block); 'background' yields the threads to foreground copies
while they run. Handle.cancel() stops the copy at the next block boundary.)";
constexpr const char* kCopyBatchDoc = R"(copy_batch(dsts, srcs) -> dsts

Copies srcs[i] into dsts[i] for every i, as one schedule. Every pair is checked before anything
is written; an invalid pair raises tilecopy.Error naming its index.)";
constexpr const char* kCopyBatchAsyncDoc = R"(copy_batch_async(dsts, srcs, *, checksum=None, threads=None, bytes_per_second=None, priority=None) -> Handle

copy_batch on the engine's submitter thread; checks now, returns at once. The Handle keeps the
tensors alive until done. With checksum="crc32c" or "crc32", Handle.checksums() gives one per pair.
threads=, bytes_per_second=, priority=: as copy_async.)";

constexpr const char* kCloneDoc = R"(clone(tensor, *, non_blocking=False, huge_pages=None, placement=None, node=None, populate=None)

A copy of tensor in memory tilecopy allocated (an anonymous mapping its storage frees when it
dies): Tensor.clone().detach()'s sizes, strides, dtype and values; requires_grad is False. The
keywords choose huge pages, NUMA placement and population as for allocate(). With non_blocking,
returns a Handle at once; Handle.result() waits and gives the clone. Raises tilecopy.Error for a
tensor that is not strided CPU memory (sparse, quantized, another device...).)";
constexpr const char* kCloneBatchDoc = R"(clone_batch(tensors, *, non_blocking=False, huge_pages=None, placement=None, node=None, populate=None)

clone() of every tensor in a list, tuple or dict, nested as a state_dict is, as one schedule in one
allocation (each clone a storage of its own); returns the same structure (containers of the same
types, a state_dict's _metadata kept, other values as they are). non_blocking: a Handle whose
result() gives the structure.)";
constexpr const char* kEmptyLikeDoc = R"(empty_like(tensor, *, huge_pages=None, placement=None, node=None, populate=None)

An uninitialized tensor with tensor's sizes, dtype and torch.empty_like's strides, in memory
tilecopy allocated; populate='now' (the default) makes its pages present first, in parallel.)";
constexpr const char* kPrefaultDoc = R"(prefault(tensor, for_write=True)

Makes the pages under the tensor's elements present (for writing, or readable only), in
parallel; the values are unchanged.)";

} // namespace
} // namespace tilecopy::python

PYBIND11_MODULE(_tilecopy, m) {
    using namespace tilecopy::python;
    using tilecopy::CopyEngine;

    // The at::Tensor inside torch's Python objects has the layout of the torch this module was
    // compiled against; under another torch it is not safe to read, so refuse to load.
    const py::module_ torch = py::module_::import("torch");
    const std::string running = py::str(torch.attr("__version__"));
    if (running != TILECOPY_TORCH_VERSION)
        throw py::import_error("tilecopy was built for torch " TILECOPY_TORCH_VERSION ", but this is torch " + running +
                               " (" + std::string(py::str(torch.attr("__file__"))) +
                               "): rebuild tilecopy with this torch's interpreter (-Dpython_interpreter=...)");

    interpreter = PyThreadState_GetInterpreter(PyThreadState_Get());
    tilecopy::set_async_job_runner(&run_async_job);

    m.doc() = "tilecopy's compiled bindings; import tilecopy instead.";
    m.attr("__version__") = TILECOPY_VERSION;
    m.attr("torch_version") = TILECOPY_TORCH_VERSION;

    static py::exception<tilecopy::Error> error(m, "Error", PyExc_RuntimeError);
    error.doc() = "Raised for every input tilecopy refuses, with C++'s message (torch's wording where "
                  "torch's copy_ would refuse). Nothing was written to the destination.";
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (python_error& e) {
            e.restore(); // a warning the warnings filter turned into an exception
        } catch (const tilecopy::Error& e) {
            error(torch::processErrorMsg(e.what()).c_str());
        } catch (const c10::Error& e) {
            error(torch::processErrorMsg(torch::get_cpp_stacktraces_enabled() ? e.what() : e.what_without_backtrace())
                      .c_str());
        }
    });

    py::class_<Handle>(m, "Handle", "An asynchronous copy in flight (from copy_async or copy_batch_async).")
        .def("wait", &Handle::wait, py::arg("timeout") = py::none(),
             "wait(timeout=None) -> bool\n\nBlocks (the GIL released) until the copy is done and returns True, "
             "raising the copy's error if it failed (every call raises it again): tilecopy.Error, or the exception "
             "a __torch_dispatch__ raised, with its traceback; with a timeout in seconds, returns False if the "
             "copy is still running then.\n\nCtrl-C interrupts the wait within ~20 ms (KeyboardInterrupt, or "
             "whatever the signal handler raises). The copy is not cancelled: it goes on in the background and "
             "the Handle still holds its tensors; call wait() again to finish it, or drop the Handle, which "
             "waits for it (not interruptibly). At interpreter exit, tilecopy waits for the copies still in "
             "flight.")
        .def("result",
             [](Handle& h) {
                 h.wait(py::none());
                 if (h.results && h.value.is_none()) h.value = h.results->result();
                 return h.value;
             },
             "result() -> the clones (of clone or clone_batch with non_blocking=True) or the snapshot: waits as "
             "wait() does, raising the copy's error; None for a copy's Handle.")
        .def("done", &Handle::done, "done() -> bool: never blocks.")
        .def("cancel", [](Handle& h) { h.handle.cancel(); },
             "cancel() -> None\n\nStops the copy at the next block boundary (never blocks; safe from any thread). "
             "wait() then raises tilecopy.Error('tilecopy: cancelled after N of M bytes'): bytes_copied is N, "
             "the bytes of the blocks that finished; the destination holds them and is untouched elsewhere. A copy "
             "still queued never runs. Does nothing once the copy is done, or in a forked child for the parent's "
             "copy.")
        .def_property_readonly("started_at", [](const Handle& h) { return time_or_none(h.handle.started_at()); },
                               "When the copy started (seconds since the epoch, as time.time()), or None.")
        .def_property_readonly("finished_at", [](const Handle& h) { return time_or_none(h.handle.finished_at()); },
                               "When the copy finished (seconds since the epoch), or None.")
        .def_property_readonly("seconds", [](const Handle& h) { return h.handle.seconds(); },
                               "Seconds from start to finish (to now while it runs; 0.0 before it starts).")
        .def_property_readonly("bytes_per_second", [](const Handle& h) { return h.handle.bytes_per_second(); },
                               "bytes_copied / seconds: the rate achieved so far (0.0 before it starts).")
        .def_property_readonly("bytes_copied", [](const Handle& h) { return h.handle.bytes_copied(); },
                               "Destination bytes written so far (rises block by block).")
        .def_property_readonly("bytes_total", [](const Handle& h) { return h.handle.bytes_total(); },
                               "Destination bytes in all.")
        .def("__repr__", [](const Handle& h) {
            return "<tilecopy.Handle " + std::string(h.handle.done() ? "done" : "running") + ", " +
                   std::to_string(h.handle.bytes_copied()) + "/" + std::to_string(h.handle.bytes_total()) + " bytes>";
        });

    py::class_<Engine>(m, "Engine",
                       "A copy engine: its own NUMA-aware threads, kernel and thresholds. Engine(**options) takes "
                       "tilecopy::Options as keyword arguments (None: the default); tilecopy.default_engine() is the "
                       "process-wide one the module-level calls use.")
        .def(py::init([](const py::kwargs& kwargs) { return std::make_unique<Engine>(options_from_kwargs(kwargs)); }))
        .def("copy_", [](Engine& e, py::handle dst, py::handle src) { return copy_on(*e.engine, dst, src); },
             py::arg("dst"), py::arg("src"), kCopyDoc)
        .def("copy_async",
             [](Engine& e, py::handle dst, py::handle src, const py::object& checksum, py::handle threads,
                py::handle rate, py::handle priority) {
                 return copy_async_on(*e.engine, dst, src, checksum_kind(checksum, "Engine.copy_async"),
                                      async_options("tilecopy.copy_async", threads, rate, priority));
             },
             py::arg("dst"), py::arg("src"), py::kw_only(), py::arg("checksum") = py::none(), py::arg("threads") = py::none(),
             py::arg("bytes_per_second") = py::none(), py::arg("priority") = py::none(), py::keep_alive<0, 1>(),
             kCopyAsyncDoc)
        .def("copy_batch", [](Engine& e, py::handle d, py::handle s) { return copy_batch_on(*e.engine, d, s); },
             py::arg("dsts"), py::arg("srcs"), kCopyBatchDoc)
        .def("copy_batch_async",
             [](Engine& e, py::handle d, py::handle s, const py::object& checksum, py::handle threads, py::handle rate,
                py::handle priority) {
                 return copy_batch_async_on(*e.engine, d, s, checksum_kind(checksum, "Engine.copy_batch_async"),
                                            async_options("tilecopy.copy_batch_async", threads, rate, priority));
             },
             py::arg("dsts"), py::arg("srcs"), py::kw_only(), py::arg("checksum") = py::none(), py::arg("threads") = py::none(),
             py::arg("bytes_per_second") = py::none(), py::arg("priority") = py::none(), py::keep_alive<0, 1>(),
             kCopyBatchAsyncDoc)
        .def("clone",
             [](Engine& e, py::handle t, bool nb, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
                 return clone_call(*e.engine, py::cast(&e, py::return_value_policy::reference), t, false, nb, hp, pl, node, pop);
             },
             py::arg("tensor"), py::kw_only(), py::arg("non_blocking") = false, py::arg("huge_pages") = py::none(),
             py::arg("placement") = py::none(), py::arg("node") = py::none(), py::arg("populate") = py::none(),
             kCloneDoc)
        .def("clone_batch",
             [](Engine& e, py::handle t, bool nb, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
                 return clone_call(*e.engine, py::cast(&e, py::return_value_policy::reference), t, true, nb, hp, pl, node, pop);
             },
             py::arg("tensors"), py::kw_only(), py::arg("non_blocking") = false, py::arg("huge_pages") = py::none(),
             py::arg("placement") = py::none(), py::arg("node") = py::none(), py::arg("populate") = py::none(),
             kCloneBatchDoc)
        .def("empty_like",
             [](Engine& e, py::handle t, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
                 return empty_like_call(*e.engine, t, hp, pl, node, pop);
             },
             py::arg("tensor"), py::kw_only(), py::arg("huge_pages") = py::none(), py::arg("placement") = py::none(),
             py::arg("node") = py::none(), py::arg("populate") = py::none(), kEmptyLikeDoc)
        .def("prefault", [](Engine& e, py::handle t, bool for_write) { prefault_now(*e.engine, t, for_write); },
             py::arg("tensor"), py::arg("for_write") = true, kPrefaultDoc)
        .def("stats", [](const Engine& e) { return stats_dict(*e.engine); },
             "stats() -> dict: counters (copies, bytes, inline/parallel/non-temporal copies, tensor paths, per "
             "kernel).")
        .def("describe", [](const Engine& e) { return e.engine->describe(); },
             "describe() -> list[str]: kernel and why, CPU features, threads, caches, thresholds, topology, arenas.")
        .def_property_readonly("kernel", [](const Engine& e) { return std::string(e.engine->kernel()); },
                               "The kernel this engine runs: 'scalar', 'avx2' or 'avx512'.")
        .def_property_readonly("options", [](const Engine& e) { return options_to_dict(e.engine->options()); },
                               "The options in use, every default resolved, as Engine() keywords.")
        .def("_time_copies",
             [](Engine& e, py::handle d, py::handle s, std::size_t n, bool raw) {
                 return time_copies(*e.engine, d, s, n, raw);
             },
             py::arg("dst"), py::arg("src"), py::arg("iterations"), py::arg("raw") = false,
             "For benchmarks: seconds for `iterations` copies from a C++ loop (raw: as bytes).");

    m.def("_finish_pending", &finish_pending,
          "_finish_pending(): waits for every asynchronous copy in flight (the package runs it at exit).");

    // Module-level calls go straight to tilecopy::default_engine(), no Python object between.
    m.def("default_engine", []() { return std::make_unique<Engine>(tilecopy::default_engine()); },
          "default_engine() -> Engine: a new handle on the process-wide engine (default options).");
    m.def("copy_", [](py::handle dst, py::handle src) { return copy_on(tilecopy::default_engine(), dst, src); },
          py::arg("dst"), py::arg("src"), kCopyDoc);
    m.def("copy_async",
          [](py::handle dst, py::handle src, const py::object& checksum, py::handle threads, py::handle rate,
             py::handle priority) {
              return copy_async_on(tilecopy::default_engine(), dst, src, checksum_kind(checksum, "tilecopy.copy_async"),
                                   async_options("tilecopy.copy_async", threads, rate, priority));
          },
          py::arg("dst"), py::arg("src"), py::kw_only(), py::arg("checksum") = py::none(), py::arg("threads") = py::none(),
          py::arg("bytes_per_second") = py::none(), py::arg("priority") = py::none(), kCopyAsyncDoc);
    m.def("copy_batch", [](py::handle d, py::handle s) { return copy_batch_on(tilecopy::default_engine(), d, s); },
          py::arg("dsts"), py::arg("srcs"), kCopyBatchDoc);
    m.def("copy_batch_async",
          [](py::handle d, py::handle s, const py::object& checksum, py::handle threads, py::handle rate,
             py::handle priority) {
              return copy_batch_async_on(tilecopy::default_engine(), d, s,
                                         checksum_kind(checksum, "tilecopy.copy_batch_async"),
                                         async_options("tilecopy.copy_batch_async", threads, rate, priority));
          },
          py::arg("dsts"), py::arg("srcs"), py::kw_only(), py::arg("checksum") = py::none(), py::arg("threads") = py::none(),
          py::arg("bytes_per_second") = py::none(), py::arg("priority") = py::none(), kCopyBatchAsyncDoc);
    m.def("clone",
          [](py::handle t, bool nb, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
              return clone_call(tilecopy::default_engine(), py::none(), t, false, nb, hp, pl, node, pop);
          },
          py::arg("tensor"), py::kw_only(), py::arg("non_blocking") = false, py::arg("huge_pages") = py::none(),
          py::arg("placement") = py::none(), py::arg("node") = py::none(), py::arg("populate") = py::none(), kCloneDoc);
    m.def("clone_batch",
          [](py::handle t, bool nb, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
              return clone_call(tilecopy::default_engine(), py::none(), t, true, nb, hp, pl, node, pop);
          },
          py::arg("tensors"), py::kw_only(), py::arg("non_blocking") = false, py::arg("huge_pages") = py::none(),
          py::arg("placement") = py::none(), py::arg("node") = py::none(), py::arg("populate") = py::none(),
          kCloneBatchDoc);
    m.def("empty_like",
          [](py::handle t, py::handle hp, py::handle pl, py::handle node, py::handle pop) {
              return empty_like_call(tilecopy::default_engine(), t, hp, pl, node, pop);
          },
          py::arg("tensor"), py::kw_only(), py::arg("huge_pages") = py::none(), py::arg("placement") = py::none(),
          py::arg("node") = py::none(), py::arg("populate") = py::none(), kEmptyLikeDoc);
    m.def("prefault", [](py::handle t, bool for_write) { prefault_now(tilecopy::default_engine(), t, for_write); },
          py::arg("tensor"), py::arg("for_write") = true, kPrefaultDoc);
    register_checksums(m);
    register_snapshot(m, m.attr("Engine"), [](py::handle e) -> CopyEngine& {
        if (!py::isinstance<Engine>(e))
            throw py::type_error("tilecopy.snapshot: engine must be a tilecopy.Engine or None, not " + type_name(e));
        return *e.cast<Engine&>().engine;
    });
#ifdef TILECOPY_PYTHON_INFO
    register_info(m);
#endif
    // A checksummed asynchronous copy's result (copy_async(..., checksum="crc32c")).
    py::class_<Handle>(m.attr("Handle"))
        .def("checksum",
             [](Handle& h) {
                 h.wait(py::none());
                 return h.handle.checksum();
             },
             "checksum() -> int: waits as wait() does, then gives the checksum of a copy started with checksum=... "
             "(of dst.contiguous()'s bytes); tilecopy.Error for a batch of several pairs (use checksums()) or a copy "
             "started without one.")
        .def("checksums",
             [](Handle& h) -> py::object {
                 h.wait(py::none());
                 if (h.results) return h.results->checksums(h.handle.checksums());
                 return py::cast(h.handle.checksums());
             },
             "checksums() -> list[int]: waits, then gives one checksum per pair of a copy started with checksum=...; "
             "for a snapshot, the snapshot's structure with each tensor's checksum (None elsewhere).");
    m.def("deepspeed_py_memcpy",
          [](py::handle dst, py::handle src) {
              at::Tensor d = tensor_arg(dst, "tilecopy.deepspeed_py_memcpy", "dst");
              const at::Tensor& s = tensor_arg(src, "tilecopy.deepspeed_py_memcpy", "src");
              return with_torch_warnings([&] {
                  NoGil released;
                  return tilecopy::deepspeed_py_memcpy(std::move(d), s);
              });
          },
          py::arg("dst"), py::arg("src"),
          "deepspeed_py_memcpy(dst, src) -> 0\n\nDrop-in for DeepSpeed's function: copy_(dst, src) on the default "
          "engine, for every dtype and layout copy_ accepts; raises tilecopy.Error where copy_ would refuse.");
}
