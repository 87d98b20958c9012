#include "structure.hpp"

#include <torch/csrc/autograd/python_variable.h>

#include <utility>

namespace py = pybind11;

namespace tilecopy::python {
namespace {

// Deeper than any state_dict; past it (a list holding itself, say) is a ValueError.
constexpr int kMaxDepth = 64;

void collect_at(py::handle obj, std::vector<at::Tensor>& out, int depth, const char* call) {
    if (depth > kMaxDepth)
        throw py::value_error(std::string(call) + ": tensors nested more than " + std::to_string(kMaxDepth) +
                              " levels deep (a container holding itself?)");
    if (is_tensor(obj)) {
        out.push_back(THPVariable_Unpack(obj.ptr()));
    } else if (PyDict_Check(obj.ptr())) {
        for (auto item : py::reinterpret_borrow<py::dict>(obj)) collect_at(item.second, out, depth + 1, call);
    } else if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
        for (auto item : obj) collect_at(item, out, depth + 1, call);
    }
}

// Looks for the index-th tensor (counting down `left`), appending subscripts to `path`.
bool find(py::handle obj, std::size_t& left, std::string& path) {
    if (is_tensor(obj)) return left-- == 0;
    const std::size_t length = path.size();
    if (PyDict_Check(obj.ptr())) {
        for (auto item : py::reinterpret_borrow<py::dict>(obj)) {
            path += "[" + std::string(py::repr(item.first)) + "]";
            if (find(item.second, left, path)) return true;
            path.resize(length);
        }
    } else if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
        std::size_t i = 0;
        for (auto item : obj) {
            path += "[" + std::to_string(i++) + "]";
            if (find(item, left, path)) return true;
            path.resize(length);
        }
    }
    return false;
}

} // namespace

bool is_tensor(py::handle obj) { return THPVariable_Check(obj.ptr()); }

py::object wrap(const at::Tensor& t) { return py::reinterpret_steal<py::object>(THPVariable_Wrap(t)); }

bool is_container(py::handle obj) {
    return PyDict_Check(obj.ptr()) || PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr());
}

void collect(py::handle obj, std::vector<at::Tensor>& out, const char* call) { collect_at(obj, out, 0, call); }

py::object rebuild(py::handle obj, const std::function<py::object(py::handle)>& leaf) {
    const py::handle type = py::type::handle_of(obj);
    if (PyDict_Check(obj.ptr())) {
        py::dict items;
        for (auto item : py::reinterpret_borrow<py::dict>(obj)) items[item.first] = rebuild(item.second, leaf);
        if (PyDict_CheckExact(obj.ptr())) return std::move(items);
        py::object out = type();
        for (auto item : items) out[item.first] = item.second;
        if (py::hasattr(obj, "__dict__")) out.attr("__dict__").attr("update")(obj.attr("__dict__"));
        return out;
    }
    if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
        py::list items;
        for (auto item : obj) items.append(rebuild(item, leaf));
        if (PyList_CheckExact(obj.ptr())) return std::move(items);
        if (PyTuple_CheckExact(obj.ptr())) return py::tuple(items);
        if (PyTuple_Check(obj.ptr()) && py::hasattr(obj, "_fields")) return type(*items); // a namedtuple
        return type(items);
    }
    return leaf(obj);
}

std::string path_of(py::handle obj, std::size_t index) {
    std::string path;
    std::size_t left = index;
    return find(obj, left, path) ? path : std::string();
}

} // namespace tilecopy::python
