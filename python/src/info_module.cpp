// tilecopy._tilecopy_info: tilecopy.info(), the JSON `tilecopy-info --json` prints, made by the
// same formatter (tools/info_json.hpp) over the public CopyEngine::info() of the shared core
// library that _tilecopy uses too: one copy of the core per process.
#include <cstddef>
#include <exception>
#include <string>

#include <pybind11/pybind11.h>

#include <tilecopy/error.hpp>

#include "info_json.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_tilecopy_info, m) {
    m.def(
        "info_json",
        [](const std::string& numa, std::size_t threads, bool pin_threads, const std::string& synthetic,
           const std::string& xml) {
            py::gil_scoped_release released; // makes an engine and runs blocks on its arenas
            return tilecopy::tools::engine_info_json(numa, threads, pin_threads, synthetic, xml);
        },
        py::arg("numa"), py::arg("threads"), py::arg("pin_threads"), py::arg("synthetic"), py::arg("xml"));
    // tilecopy::Error becomes the package's tilecopy.Error (which _tilecopy defines).
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const tilecopy::Error& e) {
            const py::object error = py::module_::import("tilecopy._tilecopy").attr("Error");
            PyErr_SetString(error.ptr(), e.what());
        }
    });
}
