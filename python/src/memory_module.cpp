// tilecopy.clone / clone_batch / empty_like / prefault. The structure of a clone_batch argument
// (structure.hpp) is walked with the GIL held; allocating, checking and copying run with it
// released.
#include "memory_module.hpp"

#include <torch/csrc/autograd/python_variable.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <tilecopy/torch.hpp>

#include "python_threads.hpp"
#include "structure.hpp"

namespace py = pybind11;

namespace tilecopy::python {
namespace {

std::string type_of(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

std::vector<at::Tensor> tensors_of(py::handle tensors, bool batch, const char* call) {
    std::vector<at::Tensor> out;
    if (!batch) {
        if (!is_tensor(tensors))
            throw py::type_error(std::string(call) + ": tensor must be a torch.Tensor, not " + type_of(tensors));
        out.push_back(THPVariable_Unpack(tensors.ptr()));
        return out;
    }
    if (!is_tensor(tensors) && !PyDict_Check(tensors.ptr()) && !PyList_Check(tensors.ptr()) &&
        !PyTuple_Check(tensors.ptr()))
        throw py::type_error(std::string(call) + ": tensors must be a list, tuple or dict of torch.Tensor, not " +
                             type_of(tensors));
    collect(tensors, out, call);
    return out;
}

py::object result_of(py::handle tensors, bool batch, const std::vector<at::Tensor>& clones) {
    std::vector<py::object> wrapped;
    wrapped.reserve(clones.size());
    for (const at::Tensor& t : clones) wrapped.push_back(wrap(t));
    if (!batch) return wrapped.front();
    std::size_t next = 0;
    return rebuild(tensors, [&](py::handle leaf) {
        return is_tensor(leaf) ? wrapped[next++] : py::reinterpret_borrow<py::object>(leaf);
    });
}

template <class Enum>
Enum choose(const char* call, const char* keyword, py::handle value, Enum fallback,
            std::initializer_list<std::pair<const char*, Enum>> names) {
    if (value.is_none()) return fallback;
    std::string known;
    if (PyUnicode_Check(value.ptr())) {
        const std::string text = py::str(value);
        for (const auto& [name, e] : names)
            if (text == name) return e;
    }
    for (const auto& [name, e] : names) known += std::string(known.empty() ? "" : ", ") + "'" + name + "'";
    throw py::value_error(std::string(call) + ": " + keyword + " must be one of " + known + " or None, got " +
                          std::string(py::repr(value)));
}

} // namespace

AllocOptions alloc_options(const char* call, py::handle huge_pages, py::handle placement, py::handle node,
                           py::handle populate) {
    AllocOptions o;
    o.huge_pages = choose(call, "huge_pages", huge_pages, o.huge_pages,
                          {{"default", HugePages::Default}, {"auto", HugePages::Auto},
                           {"always", HugePages::Always}, {"never", HugePages::Never}});
    o.placement = choose(call, "placement", placement, o.placement,
                         {{"default", Placement::Default}, {"node", Placement::Node},
                          {"interleave", Placement::Interleave}, {"copier", Placement::Copier}});
    o.populate = choose(call, "populate", populate, o.populate,
                        {{"now", Populate::Now}, {"first_copy", Populate::FirstCopy}});
    if (!node.is_none()) {
        if (!PyLong_Check(node.ptr()) || PyBool_Check(node.ptr()) || node.cast<long long>() < 0)
            throw py::value_error(std::string(call) + ": node must be an int >= 0 or None, got " +
                                  std::string(py::repr(node)));
        o.node = node.cast<int>();
        if (placement.is_none()) o.placement = Placement::Node;
    }
    return o;
}

py::object clone_now(CopyEngine& engine, py::handle tensors, bool batch, const AllocOptions& options) {
    const char* call = batch ? "tilecopy.clone_batch" : "tilecopy.clone";
    const std::vector<at::Tensor> sources = tensors_of(tensors, batch, call);
    std::vector<at::Tensor> clones;
    {
        NoGil released;
        if (batch)
            clones = engine.clone_batch(sources, options);
        else
            clones.push_back(engine.clone(sources.front(), options));
    }
    return result_of(tensors, batch, clones);
}

StartedClone clone_started(CopyEngine& engine, py::handle tensors, bool batch, const AllocOptions& options) {
    const char* call = batch ? "tilecopy.clone_batch" : "tilecopy.clone";
    const std::vector<at::Tensor> sources = tensors_of(tensors, batch, call);
    TensorsHandle started;
    {
        NoGil released;
        started = batch ? engine.clone_batch_async(sources, options) : engine.clone_async(sources.front(), options);
    }
    // The clones exist now (their values once the copy is done): wrapped here, with the GIL.
    StartedClone out;
    out.result = result_of(tensors, batch, started.tensors());
    out.copy = std::move(started.copy());
    out.held = py::reinterpret_borrow<py::object>(tensors);
    return out;
}

py::object empty_like_now(CopyEngine& engine, py::handle tensor, const AllocOptions& options) {
    const at::Tensor t = tensors_of(tensor, false, "tilecopy.empty_like").front();
    at::Tensor out;
    {
        NoGil released;
        out = engine.empty_like(t, options);
    }
    return wrap(out);
}

void prefault_now(CopyEngine& engine, py::handle tensor, bool for_write) {
    const at::Tensor t = tensors_of(tensor, false, "tilecopy.prefault").front();
    NoGil released;
    engine.prefault(t, for_write);
}

} // namespace tilecopy::python
