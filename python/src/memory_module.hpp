// tilecopy.clone, clone_batch, empty_like and prefault: the work behind the module's and
// Engine's calls (registered in module.cpp beside the copies, whose Handle they share).
#pragma once

#include <pybind11/pybind11.h>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::python {

// AllocOptions from the calls' keywords (None: the default); a bad value is a ValueError
// naming the keyword.
AllocOptions alloc_options(const char* call, pybind11::handle huge_pages, pybind11::handle placement,
                           pybind11::handle node, pybind11::handle populate);

// A clone in flight: the copy, what it must keep alive (the sources' Python objects), and the
// result to hand out once it is done (a tensor, or the structure of clone_batch).
struct StartedClone {
    CopyHandle copy;
    pybind11::object held;
    pybind11::object result;
};

// `tensors`: one tensor (batch false), or a list, tuple or dict of tensors nested as a
// state_dict is (batch true): the result has the same structure, other values kept as they are.
pybind11::object clone_now(CopyEngine& engine, pybind11::handle tensors, bool batch, const AllocOptions& options);
StartedClone clone_started(CopyEngine& engine, pybind11::handle tensors, bool batch, const AllocOptions& options);
pybind11::object empty_like_now(CopyEngine& engine, pybind11::handle tensor, const AllocOptions& options);
void prefault_now(CopyEngine& engine, pybind11::handle tensor, bool for_write);

} // namespace tilecopy::python
