// tilecopy.Engine's keyword arguments -> tilecopy::Options. Kept apart from the bindings so
// that this file compiles without ATen.
#pragma once

#include <pybind11/pybind11.h>

#include <tilecopy/options.hpp>

namespace tilecopy::python {

// Throws TypeError (unknown keyword, wrong type) or ValueError (bad value), naming the
// keyword; values the engine itself refuses reach tilecopy.Error from CopyEngine's constructor.
Options options_from_kwargs(const pybind11::kwargs& kwargs);

// The options as keyword arguments that Engine(**options) accepts (None where the value is
// "derive from the machine").
pybind11::dict options_to_dict(const Options& options);

// copy_async's and copy_batch_async's keywords threads=, bytes_per_second=, priority= (None:
// the engine's default) -> AsyncOptions; `call` names the function in errors.
AsyncOptions async_options(const char* call, pybind11::handle threads, pybind11::handle bytes_per_second,
                           pybind11::handle priority);

} // namespace tilecopy::python
