// The structures that clone_batch and snapshot take: a tensor, or lists, tuples and dicts (and
// their subclasses: OrderedDict with a state_dict's _metadata, namedtuples) nested as a
// state_dict is, holding tensors and other values. Walked with the GIL held.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <pybind11/pybind11.h>

namespace tilecopy::python {

bool is_tensor(pybind11::handle obj);
// The tensor's Python object (the one it has, else a new one).
pybind11::object wrap(const at::Tensor& t);

// Whether obj is a container the walk enters (list, tuple, dict or a subclass).
bool is_container(pybind11::handle obj);

// Every tensor of `obj` in order (dicts in their order). Deeper than 64 levels (a container
// holding itself) is a ValueError naming `call`.
void collect(pybind11::handle obj, std::vector<at::Tensor>& out, const char* call);

// `obj` with every value that is not a container replaced by leaf(value) (tensors and other
// values alike, in collect's order); containers are new objects of the same type (a dict
// subclass's instance attributes copied: a state_dict's _metadata).
pybind11::object rebuild(pybind11::handle obj, const std::function<pybind11::object(pybind11::handle)>& leaf);

// Where collect() found its index-th tensor, as Python would subscript it: "['state'][0]['exp_avg']"
// (empty for obj itself).
std::string path_of(pybind11::handle obj, std::size_t index);

} // namespace tilecopy::python
