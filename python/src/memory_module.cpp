// tilecopy.clone / clone_batch / empty_like / prefault. The structure of a clone_batch argument
// (lists, tuples, dicts and their subclasses: OrderedDict with a state_dict's _metadata,
// namedtuples) is walked here with the GIL held; allocating, checking and copying run with it
// released.
#include "memory_module.hpp"

#include <torch/csrc/autograd/python_variable.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <tilecopy/torch.hpp>

#include "python_threads.hpp"

namespace py = pybind11;

namespace tilecopy::python {
namespace {

// Deeper than any state_dict; past it (a list holding itself, say) is a ValueError.
constexpr int kMaxDepth = 64;

std::string type_of(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

bool is_tensor(py::handle obj) { return THPVariable_Check(obj.ptr()); }

void collect(py::handle obj, std::vector<at::Tensor>& out, int depth, const char* call) {
    if (depth > kMaxDepth)
        throw py::value_error(std::string(call) + ": tensors nested more than " + std::to_string(kMaxDepth) +
                              " levels deep (a container holding itself?)");
    if (is_tensor(obj)) {
        out.push_back(THPVariable_Unpack(obj.ptr()));
    } else if (PyDict_Check(obj.ptr())) {
        for (auto item : py::reinterpret_borrow<py::dict>(obj)) collect(item.second, out, depth + 1, call);
    } else if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
        for (auto item : obj) collect(item, out, depth + 1, call);
    }
}

// `obj` with each tensor replaced by the next of `clones`; containers are new objects of the
// same type (a dict subclass's instance attributes copied: a state_dict's _metadata).
py::object rebuild(py::handle obj, const std::vector<py::object>& clones, std::size_t& next) {
    if (is_tensor(obj)) return clones[next++];
    const py::handle type = py::type::handle_of(obj);
    if (PyDict_Check(obj.ptr())) {
        py::dict items;
        for (auto item : py::reinterpret_borrow<py::dict>(obj))
            items[item.first] = rebuild(item.second, clones, next);
        if (PyDict_CheckExact(obj.ptr())) return std::move(items);
        py::object out = type();
        for (auto item : items) out[item.first] = item.second;
        if (py::hasattr(obj, "__dict__")) out.attr("__dict__").attr("update")(obj.attr("__dict__"));
        return out;
    }
    if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
        py::list items;
        for (auto item : obj) items.append(rebuild(item, clones, next));
        if (PyList_CheckExact(obj.ptr())) return std::move(items);
        if (PyTuple_CheckExact(obj.ptr())) return py::tuple(items);
        if (PyTuple_Check(obj.ptr()) && py::hasattr(obj, "_fields")) return type(*items); // a namedtuple
        return type(items);
    }
    return py::reinterpret_borrow<py::object>(obj);
}

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
    collect(tensors, out, 0, call);
    return out;
}

py::object wrap(const at::Tensor& t) { return py::reinterpret_steal<py::object>(THPVariable_Wrap(t)); }

py::object result_of(py::handle tensors, bool batch, const std::vector<at::Tensor>& clones) {
    std::vector<py::object> wrapped;
    wrapped.reserve(clones.size());
    for (const at::Tensor& t : clones) wrapped.push_back(wrap(t));
    if (!batch) return wrapped.front();
    std::size_t next = 0;
    return rebuild(tensors, wrapped, next);
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
