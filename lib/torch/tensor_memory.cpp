// Tensors in tilecopy memory: CopyEngine::empty_like, clone, clone_batch, their asynchronous
// forms and prefault(tensor) (declared in <tilecopy/copy_engine.hpp>; TensorsHandle in
// <tilecopy/torch.hpp>).
//
// A tensor made here owns its memory through its storage's DataPtr, whose context is a heap
// block holding the HostBuffer and a count of the storages using it; the deleter drops one use
// and the last hands the buffer to the engine's clone pool if the engine is still alive and its
// pool keeps it, else unmaps it, so the memory outlives the engine and needs none. A batch's
// tensors share one allocation (each its own storage, at its own offset): one mapping and one
// population policy for a whole state_dict instead of one per tensor; the mapping goes when
// the last of them dies. The storages are resizable through torch's CPU allocator, as
// torch's own are: a resize moves the tensor out, releasing its use.
//
// Layout is torch's: clone() and empty_like(memory_format=preserve) keep the strides of a
// tensor that is non-overlapping and dense, and give any other the dense strides that keep
// its dimensions' order (at::infer_dense_strides). The values are copied by the adapter's own
// tensor route (one copy_batch schedule, under no-grad: the copies are detached), so a
// conjugate or negative view is resolved as clone() resolves it.
#include <atomic>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/EmptyTensor.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/Storage.h>
#include <c10/core/TensorImpl.h>

#include <tilecopy/copy_engine.hpp>
#include <tilecopy/torch.hpp>

#include "tensor_memory.hpp"

#include "adapter.hpp"
#include "tensor_batch.hpp"
#include "tensor_pair.hpp"
#include "torch_checks.hpp"

namespace tilecopy {
namespace detail {
namespace {

// Tensors of at least this many bytes start on a page of their own within a batch's
// allocation (their pages then belong to them alone: population and placement per tensor);
// smaller ones are packed on 64-byte lines.
constexpr std::size_t kPageAlignFrom = 4096;
constexpr std::size_t kLine = 64;

std::string in_batch(std::optional<std::size_t> index) {
    return index ? " (tensor " + std::to_string(*index) + " of the batch)" : std::string();
}

} // namespace

void check_strided_cpu(const at::Tensor& t, const char* call, std::optional<std::size_t> index) {
    if (!t.defined()) throw Error(std::string("tilecopy: ") + call + ": an undefined tensor" + in_batch(index));
    if (strided_cpu_view(t)) return;
    std::ostringstream why;
    if (!t.device().is_cpu())
        why << "it is on " << t.device();
    else if (t.layout() != at::kStrided)
        why << "its layout is " << t.layout();
    else if (t.is_quantized())
        why << "it is quantized";
    else if (t.is_nested())
        why << "it is nested";
    else if (t.has_names())
        why << "it has dimension names";
    else if (!t.has_storage())
        why << "it has no storage";
    else
        why << "its dispatch keys are " << t.unsafeGetTensorImpl()->key_set()
            << " (a Python subclass, a functional or batched wrapper, or a zero tensor)";
    throw Error(std::string("tilecopy: ") + call + " of " + tensor_text(t) + in_batch(index) +
                ": only strided CPU tensors are supported: " + why.str());
}

std::vector<std::int64_t> preserved_strides(const at::Tensor& t) {
    if (t.is_non_overlapping_and_dense()) return t.strides().vec();
    return at::infer_dense_strides(t.sizes(), t.strides());
}

namespace {

// The heap block a DataPtr's context points to: the mapping and how many storages use it.
// The last use hands the buffer back to the engine's clone pool (Options::clone_pool_bytes) when
// the pool still exists and keeps it, else unmaps it.
struct SharedBuffer {
    explicit SharedBuffer(adapter::TensorBuffer b) noexcept : memory(std::move(b)) {}
    ~SharedBuffer() { adapter::release_for_tensors(std::move(memory)); }
    adapter::TensorBuffer memory;
    std::atomic<std::size_t> users{1}; // the maker's use, dropped once its tensors are made
};

void release(void* context) noexcept {
    auto* shared = static_cast<SharedBuffer*>(context);
    if (shared->users.fetch_sub(1, std::memory_order_acq_rel) == 1) delete shared;
}

// The maker's use of a SharedBuffer: released however making the tensors ends.
struct MakerUse {
    SharedBuffer* shared = nullptr;
    ~MakerUse() {
        if (shared) release(shared);
    }
};

struct Layout {
    std::vector<std::int64_t> strides;
    std::size_t nbytes = 0; // the storage's bytes
    std::size_t offset = 0; // within the allocation
};

std::size_t round_up(std::size_t value, std::size_t to, const char* call) {
    const std::size_t rounded = (value + to - 1) / to * to;
    if (rounded < value) throw Error(std::string("tilecopy: ") + call + ": tensors too large to allocate together");
    return rounded;
}

at::Tensor tensor_on(c10::Storage storage, const at::Tensor& like, at::IntArrayRef strides) {
    at::Tensor t = at::detail::make_tensor<c10::TensorImpl>(std::move(storage),
                                                            c10::DispatchKeySet(c10::DispatchKey::CPU), like.dtype());
    t.unsafeGetTensorImpl()->set_sizes_and_strides(like.sizes(), strides);
    return t;
}

} // namespace

Made make_like(CopyEngine& engine, const std::vector<at::Tensor>& tensors, const AllocOptions& options,
               const char* call, bool indexed, bool writers) {
    for (std::size_t i = 0; i < tensors.size(); ++i)
        check_strided_cpu(tensors[i], call, indexed ? std::optional<std::size_t>(i) : std::nullopt);
    std::vector<Layout> layouts(tensors.size());
    std::size_t total = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        Layout& l = layouts[i];
        l.strides = preserved_strides(tensors[i]);
        l.nbytes = at::detail::computeStorageNbytes(tensors[i].sizes(), l.strides, tensors[i].element_size());
        if (l.nbytes == 0) continue;
        total = round_up(total, l.nbytes >= kPageAlignFrom ? kPageAlignFrom : kLine, call);
        l.offset = total;
        total += l.nbytes;
        if (total < l.nbytes) throw Error(std::string("tilecopy: ") + call + ": tensors too large to allocate together");
    }
    MakerUse maker;
    if (total > 0) {
        // A buffer the engine's clone pool holds for this size and these options, else a new one.
        adapter::TensorBuffer buffer = adapter::allocate_for_tensors(engine, total, options);
        maker.shared = new SharedBuffer(std::move(buffer)); // a throwing new leaves `buffer` to unmap
    }
    Made out;
    out.tensors.reserve(tensors.size());
    if (writers) out.writers.reserve(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const Layout& l = layouts[i];
        c10::DataPtr data(nullptr, c10::Device(c10::kCPU));
        if (l.nbytes > 0) {
            maker.shared->users.fetch_add(1, std::memory_order_relaxed);
            data = c10::DataPtr(static_cast<char*>(maker.shared->memory.buffer.data()) + l.offset, maker.shared, &release,
                                c10::Device(c10::kCPU));
        }
        c10::Storage storage(c10::Storage::use_byte_size_t(), l.nbytes, std::move(data), c10::GetCPUAllocator(),
                             true);
        if (writers) out.writers.push_back(tensor_on(storage, tensors[i], l.strides));
        out.tensors.push_back(tensor_on(std::move(storage), tensors[i], l.strides));
    }
    return out;
}

std::vector<at::Tensor> sources_of(const std::vector<at::Tensor>& tensors) {
    std::vector<at::Tensor> srcs;
    srcs.reserve(tensors.size());
    for (const at::Tensor& t : tensors) srcs.push_back(has_forward_grad(t, t) ? t.detach() : t);
    return srcs;
}

} // namespace detail

TensorsHandle::TensorsHandle(CopyHandle copy, std::vector<at::Tensor> tensors) noexcept
    : tensors_(std::move(tensors)), copy_(std::move(copy)) {}

std::vector<at::Tensor> TensorsHandle::result() {
    copy_.wait();
    return tensors_;
}

at::Tensor CopyEngine::empty_like(const at::Tensor& t, const AllocOptions& options) {
    return detail::make_like(*this, {t}, options, "empty_like", false, false).tensors.front();
}

at::Tensor CopyEngine::clone(const at::Tensor& t, const AllocOptions& options) {
    detail::Made made = detail::make_like(*this, {t}, options, "clone", false, true);
    at::NoGradGuard no_grad;
    copy(made.writers.front(), detail::sources_of({t}).front());
    return std::move(made.tensors.front());
}

std::vector<at::Tensor> CopyEngine::clone_batch(const std::vector<at::Tensor>& tensors, const AllocOptions& options) {
    detail::Made made = detail::make_like(*this, tensors, options, "clone_batch", true, true);
    at::NoGradGuard no_grad;
    copy_batch(made.writers, detail::sources_of(tensors));
    return std::move(made.tensors);
}

TensorsHandle CopyEngine::clone_async(const at::Tensor& t, const AllocOptions& options) {
    detail::Made made = detail::make_like(*this, {t}, options, "clone_async", false, true);
    at::NoGradGuard no_grad; // captured with the caller's other torch state for the submitter thread
    CopyHandle copy = detail::submit_batch(*this, std::move(made.writers), detail::sources_of({t}), false);
    return TensorsHandle(std::move(copy), std::move(made.tensors));
}

TensorsHandle CopyEngine::clone_batch_async(const std::vector<at::Tensor>& tensors, const AllocOptions& options) {
    detail::Made made = detail::make_like(*this, tensors, options, "clone_batch_async", true, true);
    at::NoGradGuard no_grad;
    CopyHandle copy = detail::submit_batch(*this, std::move(made.writers), detail::sources_of(tensors), true);
    return TensorsHandle(std::move(copy), std::move(made.tensors));
}

void CopyEngine::prefault(const at::Tensor& t, bool for_write) {
    detail::check_strided_cpu(t, "prefault", std::nullopt);
    const detail::Span span = detail::extent_of(t, 0, for_write);
    if (span.end > span.begin)
        prefault(reinterpret_cast<const void*>(span.begin), static_cast<std::size_t>(span.end - span.begin), for_write);
}

} // namespace tilecopy
