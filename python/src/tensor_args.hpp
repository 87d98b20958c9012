// Python arguments that must be tensors (or sequences of them), read straight from torch's
// Python objects; a TypeError names the call and the argument otherwise.
#pragma once

#include <torch/csrc/autograd/python_variable.h>

#include <string>
#include <vector>

#include <pybind11/pybind11.h>

namespace tilecopy::python {

namespace py = pybind11;

inline std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

// torch.Tensor or a subclass (torch.nn.Parameter, __torch_dispatch__ subclasses: the adapter
// hands those to copy_).
inline const at::Tensor& tensor_arg(py::handle obj, const char* call, const char* name) {
    if (!THPVariable_CheckExact(obj.ptr()) && !THPVariable_Check(obj.ptr()))
        throw py::type_error(std::string(call) + ": " + name + " must be a torch.Tensor, not " + type_name(obj));
    return THPVariable_Unpack(obj.ptr());
}

inline std::vector<at::Tensor> tensor_list(py::handle seq, const char* call, const char* name) {
    if (THPVariable_Check(seq.ptr()) || !PySequence_Check(seq.ptr()) || PyUnicode_Check(seq.ptr()))
        throw py::type_error(std::string(call) + ": " + name + " must be a sequence of torch.Tensor, not " +
                             type_name(seq));
    const py::sequence items = py::reinterpret_borrow<py::sequence>(seq);
    std::vector<at::Tensor> out;
    out.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        const py::object item = items[i];
        if (!THPVariable_CheckExact(item.ptr()) && !THPVariable_Check(item.ptr()))
            throw py::type_error(std::string(call) + ": " + name + "[" + std::to_string(i) +
                                 "] must be a torch.Tensor, not " + type_name(item));
        out.push_back(THPVariable_Unpack(item.ptr()));
    }
    return out;
}

} // namespace tilecopy::python
