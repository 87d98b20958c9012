// The structure is walked with the GIL held: its tensors collected in order, and a skeleton kept
// (the same containers with a marker for every tensor), from which result() and checksums()
// build their structures once the copy has succeeded; the snapshot's tensors exist for Python
// only then (a cancelled snapshot leaves none to free).
#include "snapshot_module.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tilecopy/snapshot.hpp>

#include "checksum_module.hpp"
#include "engine_options.hpp"
#include "handle.hpp"
#include "memory_module.hpp"
#include "structure.hpp"

namespace py = pybind11;

namespace tilecopy::python {
namespace {

constexpr const char* kCall = "tilecopy.snapshot";

// The structure with a marker where each tensor was (new containers: later changes to the
// caller's do not reach the snapshot).
struct Skeleton {
    py::object marker = py::module_::import("builtins").attr("object")();
    py::object shape;

    explicit Skeleton(py::handle obj)
        : shape(rebuild(obj, [this](py::handle leaf) {
              return is_tensor(leaf) ? marker : py::reinterpret_borrow<py::object>(leaf);
          })) {}

    // The skeleton with the i-th marker replaced by at(i) and, with `others`, every other value
    // by None.
    template <class At>
    py::object fill(At&& at, bool others_none) const {
        std::size_t next = 0;
        return rebuild(shape, [&](py::handle leaf) -> py::object {
            if (leaf.is(marker)) return at(next++);
            return others_none ? py::none() : py::reinterpret_borrow<py::object>(leaf);
        });
    }
};

struct SnapshotResults final : Handle::Results {
    Skeleton skeleton;
    std::shared_ptr<const SnapshotOutcome> outcome;
    std::vector<std::size_t> pair_of;

    SnapshotResults(Skeleton s, std::shared_ptr<const SnapshotOutcome> o, std::vector<std::size_t> p)
        : skeleton(std::move(s)), outcome(std::move(o)), pair_of(std::move(p)) {}

    py::object result() override {
        const std::vector<at::Tensor>& tensors = outcome->tensors;
        if (tensors.size() != pair_of.size()) throw Error("tilecopy: this snapshot's copy did not finish");
        return skeleton.fill([&](std::size_t i) { return wrap(tensors[i]); }, false);
    }
    py::object checksums(const std::vector<std::uint32_t>& pairs) override {
        return skeleton.fill(
            [&](std::size_t i) -> py::object {
                if (pair_of[i] == static_cast<std::size_t>(-1)) return py::none();
                return py::int_(pairs.at(pair_of[i]));
            },
            true);
    }
};

NonCpu non_cpu_policy(py::handle value) {
    if (!value.is_none() && PyUnicode_Check(value.ptr())) {
        const std::string text = py::str(value);
        if (text == "error") return NonCpu::Error;
        if (text == "keep") return NonCpu::Keep;
    }
    if (value.is_none()) return NonCpu::Error;
    throw py::value_error(std::string(kCall) + ": non_cpu must be 'error' or 'keep', got " +
                          std::string(py::repr(value)));
}

std::vector<at::Tensor> tensors_in(py::handle obj, const char* name) {
    if (!is_tensor(obj) && !is_container(obj))
        throw py::type_error(std::string(kCall) + ": " + name +
                             " must be a tensor or a list, tuple or dict of them, not " + type_name(obj));
    std::vector<at::Tensor> out;
    collect(obj, out, kCall);
    return out;
}

// A tensor off the CPU named by its place in the structure, before the library names its index.
void check_devices(py::handle obj, const std::vector<at::Tensor>& tensors) {
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const at::Tensor& t = tensors[i];
        if (!t.defined() || t.device().is_cpu()) continue;
        const std::string path = path_of(obj, i);
        throw Error(std::string(kCall) + ": the tensor " + (path.empty() ? std::string("given") : "at " + path) +
                    " is on " + t.device().str() + ", not the CPU; non_cpu='keep' keeps such tensors as they are");
    }
}

py::object snapshot_call(CopyEngine& engine, py::object owner, py::handle obj, py::handle into, bool non_blocking,
                         const py::object& checksum, py::handle non_cpu, py::handle threads, py::handle rate,
                         py::handle priority, py::handle huge_pages, py::handle placement, py::handle node,
                         py::handle populate) {
    SnapshotOptions o;
    o.memory = alloc_options(kCall, huge_pages, placement, node, populate);
    o.checksum = checksum_kind(checksum, kCall);
    o.non_cpu = non_cpu_policy(non_cpu);
    if (!non_blocking && !(threads.is_none() && rate.is_none() && priority.is_none()))
        throw py::value_error(std::string(kCall) + ": threads, bytes_per_second and priority limit a non_blocking "
                                                   "snapshot; a blocking one is a synchronous copy, never limited");
    o.limits = async_options(kCall, threads, rate, priority);
    if (priority.is_none()) o.limits.priority = Priority::Background;
    const std::vector<at::Tensor> tensors = tensors_in(obj, "obj");
    std::vector<at::Tensor> previous;
    if (!into.is_none()) previous = tensors_in(into, "into");
    if (o.non_cpu == NonCpu::Error) check_devices(obj, tensors);
    Skeleton skeleton(obj);

    if (!non_blocking) {
        Snapshot done;
        {
            NoGil released;
            done = snapshot(engine, tensors, o, previous);
        }
        py::object result = skeleton.fill([&](std::size_t i) { return wrap(done.tensors[i]); }, false);
        if (o.checksum == Checksum::none) return result;
        py::object sums = skeleton.fill(
            [&](std::size_t i) -> py::object {
                if (!done.tensors[i].device().is_cpu()) return py::none();
                return py::int_(done.checksums[i]);
            },
            true);
        return py::make_tuple(std::move(result), std::move(sums));
    }
    SnapshotHandle started;
    {
        NoGil released;
        started = snapshot_async(engine, tensors, o, previous);
    }
    auto h = std::make_unique<Handle>(std::move(started.copy()),
                                      py::make_tuple(py::reinterpret_borrow<py::object>(obj),
                                                     py::reinterpret_borrow<py::object>(into), std::move(owner)));
    h->results = std::make_shared<SnapshotResults>(std::move(skeleton), started.outcome(), started.pair_of());
    return py::cast(std::move(h));
}

constexpr const char* kSnapshotDoc = R"(snapshot(obj, *, into=None, non_blocking=True, checksum=None, non_cpu='error', threads=None, bytes_per_second=None, priority=None, huge_pages=None, placement=None, node=None, populate=None, engine=None)

A copy of obj, a tensor or a list, tuple or dict of them nested as a state_dict is (an optimizer's
state_dict() too), for checkpoint staging: the same structure (containers of the same types and
order, a state_dict's _metadata kept, other values as they are) with every CPU tensor replaced by
a copy (Tensor.clone().detach()'s values, sizes and strides) in memory tilecopy allocated, all
copied as one schedule.

into: a previous snapshot (or any structure of tensors), matched tensor by tensor in order: one with
the same sizes, dtype and clone()'s strides takes the new values in place (no allocation; the
snapshot returns it); the others get new memory, in one allocation.
non_blocking=True (the default): returns a Handle at once; result() waits and gives the structure,
cancel() stops the copy (result() then raises 'cancelled after N of M bytes'; memory the snapshot
allocated is freed, into's tensors are partly written). non_blocking=False: the structure (with
checksum: a tuple (structure, checksums)), copied as a synchronous copy.
checksum='crc32c' or 'crc32': Handle.checksums() gives the structure with each copied tensor's
checksum (of its bytes, as tilecopy.checksum) and None elsewhere.
non_cpu='error' raises tilecopy.Error naming the key path of a tensor not on the CPU; 'keep' keeps
such tensors (the same objects) in the snapshot.
threads=, bytes_per_second=, priority= limit the non_blocking copy as for copy_async; a snapshot is
'background' work unless priority says otherwise. huge_pages=, placement=, node=, populate=: the
new memory, as for clone().)";

} // namespace

void register_snapshot(py::module_& m, py::object engine_class, CopyEngine& (*engine_of)(py::handle engine)) {
    // The keywords after obj, in order, for both the function and the method.
    auto call = [](CopyEngine& engine, py::object owner, py::handle obj, py::handle into, bool nb, const py::object& ck,
                   py::handle non_cpu, py::handle threads, py::handle rate, py::handle priority, py::handle hp,
                   py::handle pl, py::handle node, py::handle pop) {
        return snapshot_call(engine, std::move(owner), obj, into, nb, ck, non_cpu, threads, rate, priority, hp, pl,
                             node, pop);
    };
    m.def(
        "snapshot",
        [call, engine_of](py::handle obj, py::handle into, bool nb, const py::object& ck, py::handle non_cpu,
                          py::handle threads, py::handle rate, py::handle priority, py::handle hp, py::handle pl,
                          py::handle node, py::handle pop, py::object engine) {
            CopyEngine& e = engine.is_none() ? default_engine() : engine_of(engine);
            return call(e, engine, obj, into, nb, ck, non_cpu, threads, rate, priority, hp, pl, node, pop);
        },
        py::arg("obj"), py::kw_only(), py::arg("into") = py::none(), py::arg("non_blocking") = true,
        py::arg("checksum") = py::none(), py::arg("non_cpu") = "error", py::arg("threads") = py::none(),
        py::arg("bytes_per_second") = py::none(), py::arg("priority") = py::none(), py::arg("huge_pages") = py::none(),
        py::arg("placement") = py::none(), py::arg("node") = py::none(), py::arg("populate") = py::none(),
        py::arg("engine") = py::none(), kSnapshotDoc);
    engine_class.attr("snapshot") = py::cpp_function(
        [call, engine_of](py::object self, py::handle obj, py::handle into, bool nb, const py::object& ck,
                          py::handle non_cpu, py::handle threads, py::handle rate, py::handle priority, py::handle hp,
                          py::handle pl, py::handle node, py::handle pop) {
            CopyEngine& e = engine_of(self);
            return call(e, self, obj, into, nb, ck, non_cpu, threads, rate, priority, hp, pl, node, pop);
        },
        py::name("snapshot"), py::is_method(engine_class), py::arg("obj"), py::kw_only(),
        py::arg("into") = py::none(), py::arg("non_blocking") = true, py::arg("checksum") = py::none(),
        py::arg("non_cpu") = "error", py::arg("threads") = py::none(), py::arg("bytes_per_second") = py::none(),
        py::arg("priority") = py::none(), py::arg("huge_pages") = py::none(), py::arg("placement") = py::none(),
        py::arg("node") = py::none(), py::arg("populate") = py::none(), kSnapshotDoc);
}

} // namespace tilecopy::python
