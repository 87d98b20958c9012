// tilecopy.copy_with_checksum and tilecopy.checksum, added to the _tilecopy module.
#pragma once

#include <pybind11/pybind11.h>

namespace tilecopy::python {

void register_checksums(pybind11::module_& m);

} // namespace tilecopy::python
