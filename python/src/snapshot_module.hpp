// tilecopy.snapshot and Engine.snapshot: a tensor or a structure of them (structure.hpp) copied
// into tilecopy memory as one schedule (<tilecopy/snapshot.hpp>), with the GIL released.
#pragma once

#include <pybind11/pybind11.h>

#include <tilecopy/copy_engine.hpp>

namespace tilecopy::python {

// Registers tilecopy.snapshot (engine=None: the default engine) and Engine.snapshot on
// `engine_class`; engine_of gives an Engine object's CopyEngine.
void register_snapshot(pybind11::module_& m, pybind11::object engine_class,
                       CopyEngine& (*engine_of)(pybind11::handle engine));

} // namespace tilecopy::python
