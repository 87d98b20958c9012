// tilecopy.copy_with_checksum(dst, src, kind) and tilecopy.checksum(tensor, kind) on the default
// engine, the GIL released while they run. An unknown kind is a ValueError naming the kinds
// (the library's tilecopy::Error text); every other refusal is tilecopy.Error as for copy_.
#include "checksum_module.hpp"

#include <torch/csrc/autograd/python_variable.h>

#include <string>

#include <tilecopy/checksum.hpp>
#include <tilecopy/torch.hpp>

namespace py = pybind11;

namespace tilecopy::python {
namespace {

const at::Tensor& tensor_of(py::handle obj, const char* call, const char* name) {
    if (!THPVariable_Check(obj.ptr()))
        throw py::type_error(std::string(call) + ": " + name + " must be a torch.Tensor, not " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    return THPVariable_Unpack(obj.ptr());
}

Checksum kind_of(const std::string& name) {
    try {
        return parse_checksum(name);
    } catch (const Error& e) {
        throw py::value_error(e.what());
    }
}

} // namespace

void register_checksums(py::module_& m) {
    m.def(
        "copy_with_checksum",
        [](py::handle dst, py::handle src, const std::string& kind) -> std::uint32_t {
            const Checksum k = kind_of(kind);
            const at::Tensor& d = tensor_of(dst, "tilecopy.copy_with_checksum", "dst");
            const at::Tensor& s = tensor_of(src, "tilecopy.copy_with_checksum", "src");
            py::gil_scoped_release released;
            return default_engine().copy(d, s, k);
        },
        py::arg("dst"), py::arg("src"), py::arg("kind") = "crc32c",
        "copy_with_checksum(dst, src, kind='crc32c') -> int: copy_(dst, src), returning the checksum of dst's bytes "
        "in row-major element order after conversion (of dst.contiguous()); kind 'crc32c' or 'crc32' (zlib.crc32's).");
    m.def(
        "checksum",
        [](py::handle tensor, const std::string& kind) -> std::uint32_t {
            const Checksum k = kind_of(kind);
            const at::Tensor& t = tensor_of(tensor, "tilecopy.checksum", "tensor");
            py::gil_scoped_release released;
            return default_engine().checksum(t, k);
        },
        py::arg("tensor"), py::arg("kind") = "crc32c",
        "checksum(tensor, kind='crc32c') -> int: the checksum of the tensor's bytes in row-major element order (of "
        "tensor.contiguous()), computed in parallel; kind 'crc32c' or 'crc32' (zlib.crc32's).");
}

} // namespace tilecopy::python
