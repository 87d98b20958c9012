// tilecopy.info(): the JSON `tilecopy-info --json` prints, made by the same formatter
// (tools/info_json.hpp) over the public CopyEngine::info() of the shared core library.
// Part of _tilecopy when nlohmann-json is found at build time (TILECOPY_PYTHON_INFO).
#include <cstddef>
#include <string>

#include "info_json.hpp"
#include "info_module.hpp"

namespace py = pybind11;

namespace tilecopy::python {

void register_info(py::module_& m) {
    m.def(
        "info_json",
        [](const std::string& numa, std::size_t threads, bool pin_threads, const std::string& synthetic,
           const std::string& xml) {
            py::gil_scoped_release released; // makes an engine and runs blocks on its arenas
            return tilecopy::tools::engine_info_json(numa, threads, pin_threads, synthetic, xml);
        },
        py::arg("numa"), py::arg("threads"), py::arg("pin_threads"), py::arg("synthetic"), py::arg("xml"));
}

} // namespace tilecopy::python
