// tilecopy.copy_with_checksum(dst, src, kind) (one pair, or lists of them) and
// tilecopy.checksum(tensor, kind) on the default engine, the GIL released while they run. An
// unknown kind is a ValueError naming the kinds (the library's tilecopy::Error text); every other
// refusal is tilecopy.Error as for copy_.
#include "checksum_module.hpp"

#include <string>
#include <vector>

#include <pybind11/stl.h>

#include <tilecopy/checksum.hpp>
#include <tilecopy/torch.hpp>

#include "tensor_args.hpp"

namespace py = pybind11;

namespace tilecopy::python {
namespace {

Checksum kind_of(const std::string& name) {
    try {
        return parse_checksum(name);
    } catch (const Error& e) {
        throw py::value_error(e.what());
    }
}

} // namespace

Checksum checksum_kind(const py::object& checksum, const char* call) {
    if (checksum.is_none()) return Checksum::none;
    if (!py::isinstance<py::str>(checksum))
        throw py::type_error(std::string(call) + ": checksum must be 'crc32c', 'crc32' or None, not " +
                             type_name(checksum));
    return kind_of(checksum.cast<std::string>());
}

void register_checksums(py::module_& m) {
    m.def(
        "copy_with_checksum",
        [](py::handle dst, py::handle src, const std::string& kind) -> py::object {
            const Checksum k = kind_of(kind);
            constexpr const char* call = "tilecopy.copy_with_checksum";
            if (!THPVariable_Check(dst.ptr())) { // a batch: lists of destinations and sources
                const std::vector<at::Tensor> d = tensor_list(dst, call, "dst");
                const std::vector<at::Tensor> s = tensor_list(src, call, "src");
                std::vector<std::uint32_t> crcs;
                {
                    py::gil_scoped_release released;
                    crcs = default_engine().copy_batch(d, s, k);
                }
                return py::cast(crcs);
            }
            const at::Tensor& d = tensor_arg(dst, call, "dst");
            const at::Tensor& s = tensor_arg(src, call, "src");
            std::uint32_t crc = 0;
            {
                py::gil_scoped_release released;
                crc = default_engine().copy(d, s, k);
            }
            return py::int_(crc);
        },
        py::arg("dst"), py::arg("src"), py::arg("kind") = "crc32c",
        "copy_with_checksum(dst, src, kind='crc32c') -> int: copy_(dst, src), returning the checksum of dst's bytes "
        "in row-major element order after conversion (of dst.contiguous()); kind 'crc32c' or 'crc32' (zlib.crc32's). "
        "With sequences of tensors, copy_batch(dst, src) returning a list of one checksum per pair (0 for an empty "
        "one); a refused batch raises with nothing written.");
    m.def(
        "checksum",
        [](py::handle tensor, const std::string& kind) -> std::uint32_t {
            const Checksum k = kind_of(kind);
            const at::Tensor& t = tensor_arg(tensor, "tilecopy.checksum", "tensor");
            py::gil_scoped_release released;
            return default_engine().checksum(t, k);
        },
        py::arg("tensor"), py::arg("kind") = "crc32c",
        "checksum(tensor, kind='crc32c') -> int: the checksum of the tensor's bytes in row-major element order (of "
        "tensor.contiguous()), computed in parallel; kind 'crc32c' or 'crc32' (zlib.crc32's).");
}

} // namespace tilecopy::python
