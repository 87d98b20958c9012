// tilecopy.Handle: a CopyHandle as Python sees it (module.cpp registers it; the calls that start
// copies make them).
#pragma once

#include "python_threads.hpp" // Python.h first

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>

#include <tilecopy/copy_handle.hpp>

#include "tensor_args.hpp"

namespace tilecopy::python {

namespace py = pybind11;

// A CopyHandle as Python sees it, holding the tensors' Python objects until the copy is done.
// The C++ handle keeps the at::Tensors alive by itself, but if the caller dropped the Python
// objects meanwhile, torch hands each object's ownership to its tensor, and the engine's thread
// would then need the GIL to drop it: a Python thread holding the GIL would stall the queue of
// copies behind it, and at interpreter exit it could never get it. Held here, the objects die
// in Python, with the GIL, after the copy.
//
// Destroying a handle whose copy runs waits for it (C++ semantics), with the GIL released.
// Every live handle is listed (under the GIL) for finish_pending(), which the package runs at
// interpreter exit.
struct Handle {
    CopyHandle handle;
    py::object tensors; // a tuple of the arguments' tensor objects; None once the copy is done
    py::object value = py::none(); // what result() gives once done: the clones (None for a copy)

    // result() and checksums() of a handle whose values exist only once its copy has succeeded
    // (a snapshot's): made then, with the GIL. Null for the other calls.
    struct Results {
        virtual ~Results() = default;
        virtual py::object result() = 0;
        virtual py::object checksums(const std::vector<std::uint32_t>& pairs) = 0; // the copy's, one per pair
    };
    std::shared_ptr<Results> results;

    Handle(CopyHandle h, py::object held) : handle(std::move(h)), tensors(std::move(held)) { live().insert(this); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() {
        live().erase(this);
        if (!handle.done() && !_Py_IsFinalizing()) {
            NoGil released;
            CopyHandle finished = std::move(handle);
        }
    }

    static std::unordered_set<Handle*>& live() {
        static auto* handles = new std::unordered_set<Handle*>; // never destroyed: used until the last handle goes
        return *handles;
    }

    bool done() {
        if (!handle.done()) return false;
        tensors = py::none();
        return true;
    }

    // True when the copy has finished (rethrowing its error, every call); False when
    // `timeout` seconds passed first. Waits in slices of kWaitSlice with the GIL released, and
    // between slices lets Python run its signal handlers: Ctrl-C raises KeyboardInterrupt here
    // (the copy goes on).
    bool wait(const py::object& timeout) {
        using Clock = std::chrono::steady_clock;
        bool bounded = false;
        Clock::time_point deadline;
        if (!timeout.is_none()) {
            if (!PyFloat_Check(timeout.ptr()) && (!PyLong_Check(timeout.ptr()) || PyBool_Check(timeout.ptr())))
                throw py::type_error("tilecopy.Handle.wait: timeout must be a number of seconds or None, not " +
                                     type_name(timeout));
            double seconds = timeout.cast<double>();
            if (!(seconds >= 0))
                throw py::value_error("tilecopy.Handle.wait: timeout must be >= 0 seconds or None, got " +
                                      std::string(py::repr(timeout)));
            seconds = std::min(seconds, 1e9); // ~31 years: no overflow in nanoseconds
            bounded = true;
            deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9)));
        }
        for (;;) {
            std::chrono::nanoseconds slice = kWaitSlice;
            if (bounded) slice = std::min<std::chrono::nanoseconds>(slice, deadline - Clock::now());
            bool finished = false;
            {
                NoGil released;
                finished = handle.wait_for(slice);
            }
            if (finished) break;
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            if (bounded && Clock::now() >= deadline) return false;
        }
        tensors = py::none();
        handle.wait(); // finished: rethrows its error, never blocks
        return true;
    }

    // Short enough that Ctrl-C feels immediate, long enough that a waiting thread costs nothing
    // (one GIL hand-over per slice).
    static constexpr std::chrono::milliseconds kWaitSlice{20};
};

} // namespace tilecopy::python
