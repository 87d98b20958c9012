// tilecopy.info()'s JSON (info_json), added to the _tilecopy module where nlohmann-json was found.
#pragma once

#include <pybind11/pybind11.h>

namespace tilecopy::python {

void register_info(pybind11::module_& m);

} // namespace tilecopy::python
