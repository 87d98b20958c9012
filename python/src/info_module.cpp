// tilecopy._tilecopy_info: tilecopy.info(), the JSON `tilecopy-info --json` prints, made by the
// tool's own code (tools/tilecopy_info.cpp compiled into this module without its main()).
#include <cstddef>
#include <string>

#include <pybind11/pybind11.h>

#include <tilecopy/error.hpp>

std::string tilecopy_info_json(const std::string& numa, std::size_t threads, bool pin_threads,
                               const std::string& synthetic, const std::string& xml);

namespace py = pybind11;

PYBIND11_MODULE(_tilecopy_info, m) {
    m.def(
        "info_json",
        [](const std::string& numa, std::size_t threads, bool pin_threads, const std::string& synthetic,
           const std::string& xml) {
            py::gil_scoped_release released; // makes an engine and runs blocks on its arenas
            return tilecopy_info_json(numa, threads, pin_threads, synthetic, xml);
        },
        py::arg("numa"), py::arg("threads"), py::arg("pin_threads"), py::arg("synthetic"), py::arg("xml"));
    // This module holds its own (static) copy of the core, so its tilecopy::Error is not the
    // type _tilecopy translates: it comes out as InfoError, which tilecopy.info() re-raises as
    // tilecopy.Error with the same message.
    py::register_local_exception<tilecopy::Error>(m, "InfoError", PyExc_RuntimeError);
}
