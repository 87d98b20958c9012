// tilecopy.copy_with_checksum and tilecopy.checksum, added to the _tilecopy module.
#pragma once

#include <pybind11/pybind11.h>

#include <tilecopy/checksum.hpp>

namespace tilecopy::python {

void register_checksums(pybind11::module_& m);

// A call's checksum= argument: None -> Checksum::none, "crc32c" or "crc32"; ValueError naming the
// kinds for another name, TypeError (naming `call`) for another type.
Checksum checksum_kind(const pybind11::object& checksum, const char* call);

} // namespace tilecopy::python
