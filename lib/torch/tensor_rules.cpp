// The rules of a tensor copy (plan_pair): torch's CPU Tensor::copy_ is the specification.
//
// Which path a copy takes (counted in Stats::tensor_*); README's "Which path a tensor copy
// takes" is the user's version of this list.
//   rejected  tilecopy::Error carrying copy_'s own message, nothing written, wherever copy_ would
//             throw (torch_checks.hpp, in copy_'s order): an undefined tensor; autograd's in-place
//             checks when copy_ records history (a leaf or a view of a leaf requiring grad...);
//             a destination with internal overlap (an expanded tensor); source and destination
//             partially overlapping; a source whose shape does not broadcast to the
//             destination's; an inference tensor written outside InferenceMode (copy_ writes it,
//             then throws; tilecopy throws first). Refusals of copy_ on the Fallback path pass
//             through with copy_'s message; in a batch or an asynchronous copy they are asked of
//             copy_ at planning, on a one-element twin of the destination (dry_run), so that a
//             refused batch writes nothing and copy_async refuses at submission. tilecopy's own refusal: a plain tensor whose data
//             pointer is null with elements to copy (copy_ would write through it).
//   no-op     the same tensor, or one with the same data pointer, sizes, strides and dtype (copy_
//             writes every element onto itself, so in a batch the pair cannot depend on the
//             order of the others); zero-element copies. No path is counted.
//   Contiguous  same dtype, both contiguous, same shape: one byte copy.
//   Strided     same dtype, and after dropping size-1 dimensions, ordering by destination stride
//             and merging dimensions contiguous in both tensors, the innermost dimension is
//             contiguous in both, in runs of at least 4 KiB when there are several
//             (kMinRunBytes, measured): row blocks, column slices, narrowed views, permuted outer
//             dimensions, a source broadcast along outer dimensions, matching channels-last
//             layouts. One Region per run.
//   Converted   float32 <-> bfloat16 and float32 <-> float16, contiguous (one run) or as the
//             strided runs above, through the fused conversion kernels.
//   Fallback    torch's copy_ after tilecopy's checks: every other dtype pair (integer, bool,
//             float64, complex conversions), runs under 4 KiB, strided or broadcast
//             innermost dimensions, destinations whose elements may alias (as_strided), source
//             and destination sharing memory without torch calling it a partial overlap; every
//             tensor whose dispatch keys are not a plain dense CPU tensor's (plain_cpu_keys:
//             conj and neg views, named, zero, sparse, quantized, mkldnn, nested, meta,
//             functionalization wrappers, vmap-batched, Python subclasses...); pairs for which
//             copy_ records autograd history (grad mode on and a tensor requiring grad; under
//             no_grad or InferenceMode such tensors take the fast paths) or a forward-mode
//             gradient; every pair when the loaded libtorch is not the one tilecopy was built
//             for (torch_version.cpp). Also float32 -> bfloat16 when torch runs without its
//             vectorized kernels (ATEN_CPU_CAPABILITY=default, or a CPU without AVX2): torch
//             1.13 writes 0xFFFF for every NaN from its AVX2/AVX-512 code, which runs whenever
//             the innermost runs are contiguous in both tensors (the only layouts the Converted
//             path takes), and c10's 0x7FC0 from its scalar code. The kernels write 0xFFFF;
//             which one torch writes is asked of copy_ itself once per process
//             (bf16_nan_matches_torch). A single-element copy can take torch's scalar loop even
//             then, so it goes to copy_ too.
// Fast paths bump the destination's version counter as copy_ does (once, after the write).
//
// This file holds the rules (plan_pair); tensor_batch.cpp carries plans out, one pair or many,
// and tensor_api.cpp holds the entries.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/MemoryOverlap.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/core/Tensor.h>

#include <tilecopy/copy_engine.hpp>

#include "tensor_pair.hpp"
#include "torch_checks.hpp"

namespace tilecopy {
namespace detail {
namespace {

std::string shape_text(at::IntArrayRef values) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
    out << ']';
    return out.str();
}

std::string where(std::optional<std::size_t> index) {
    return index ? "pair " + std::to_string(*index) + ": " : std::string();
}

// tilecopy's own refusals (copy_ has no words for them).
[[noreturn]] void reject(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index,
                         const std::string& why) {
    throw Error("tilecopy: " + where(index) + "cannot copy " + tensor_text(src) + " into " + tensor_text(dst) + ": " +
                why);
}

Conversion conversion_between(at::ScalarType dst, at::ScalarType src) {
    if (src == at::kFloat && dst == at::kBFloat16) return Conversion::F32ToBF16;
    if (src == at::kBFloat16 && dst == at::kFloat) return Conversion::BF16ToF32;
    if (src == at::kFloat && dst == at::kHalf) return Conversion::F32ToF16;
    if (src == at::kHalf && dst == at::kFloat) return Conversion::F16ToF32;
    return Conversion::None;
}

// The source's strides once broadcast to the destination's shape (0 along broadcast
// dimensions); called once check_memory_and_shape has accepted the shapes.
std::vector<std::int64_t> broadcast_strides(const at::Tensor& dst, const at::Tensor& src) {
    const std::int64_t extra = dst.dim() - src.dim();
    std::vector<std::int64_t> strides(static_cast<std::size_t>(dst.dim()), 0);
    for (std::int64_t i = 0; i < src.dim(); ++i)
        if (src.size(i) == dst.size(i + extra)) strides[static_cast<std::size_t>(i + extra)] = src.stride(i);
    return strides;
}

// A CPU tensor whose strided memory the planner may read (the extent and run checks between
// the pairs of a batch); sparse, meta, nested, batched or functional tensors have none.
bool has_cpu_memory(const at::Tensor& t) {
    return t.defined() && t.device().is_cpu() && t.layout() == at::kStrided && !t.is_nested() && t.has_storage() &&
           t.storage().data() != nullptr;
}

// Whether torch's copy_ writes what our kernels write (0xFFFF) for a NaN converted from
// float32 to bfloat16 over contiguous runs: asked once, of copy_ itself, with NaNs in every
// position of a vector and of a tail. The source is float32 whatever the default dtype.
bool bf16_nan_matches_torch() {
    static const bool matches = [] {
        const at::Tensor src = at::full({67}, std::numeric_limits<float>::quiet_NaN(), at::kFloat);
        at::Tensor dst = at::empty({67}, at::kBFloat16);
        dst.copy_(src);
        const auto* bits = static_cast<const std::uint16_t*>(dst.data_ptr());
        return std::all_of(bits, bits + 67, [](std::uint16_t b) { return b == 0xFFFF; });
    }();
    return matches;
}

// extent_of for a tensor with elements, its data pointer and element size in hand.
Span extent_at(const at::Tensor& t, const void* data, std::size_t element_size, std::size_t pair, bool written) {
    const at::IntArrayRef sizes = t.sizes(), strides = t.strides();
    std::int64_t last = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) last += (sizes[i] - 1) * strides[i];
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    return Span{begin, begin + static_cast<std::uintptr_t>((last + 1) * static_cast<std::int64_t>(element_size)), pair,
                written};
}

// The same elements in the same order and dtype (torch calls strided views of one layout "too
// hard"): copy_ writes every element onto itself, whatever else a batch writes before or after.
bool same_view(const at::Tensor& dst, const at::Tensor& src) {
    return dst.data_ptr() == src.data_ptr() && dst.scalar_type() == src.scalar_type() &&
           dst.sizes().equals(src.sizes()) && dst.strides().equals(src.strides());
}

PairPlan torch_plan(const at::Tensor& dst, const at::Tensor& src, std::size_t pair) {
    PairPlan plan;
    plan.action = PairAction::Torch;
    plan.path = TensorPath::Fallback;
    // Nested tensors have no single element count to report progress by.
    if (dst.defined() && !dst.is_nested())
        plan.dst_bytes = static_cast<std::uint64_t>(dst.numel()) * dst.element_size();
    const bool dst_memory = has_cpu_memory(dst), src_memory = has_cpu_memory(src);
    // A pair that writes every element onto itself touches nothing another pair could see.
    if (dst_memory && src_memory && same_view(dst, src) && dst.is_conj() == src.is_conj() && dst.is_neg() == src.is_neg())
        return plan;
    plan.dst_extent = dst_memory ? extent_of(dst, pair, true) : Span{0, 0, pair, true};
    plan.src_extent = src_memory ? extent_of(src, pair, false) : Span{0, 0, pair, false};
    return plan;
}

// A pair outside the fast paths' reach, after the checks on undefined tensors and autograd.
// copy_ refuses kinds of tensors (sparse, quantized...) first, then checks the destination's
// memory and the shapes before writing, then the version counter after writing. tilecopy makes
// the last two itself; when `decide` (a batch, or a copy carried out later), copy_ is asked
// first, on a twin (dry_run), so that nothing of the batch is written when any pair is refused.
// Conjugate and negative views of strided memory need no twin: copy_ refuses them for nothing
// else than plain tensors.
PairPlan exotic_plan(const at::Tensor& dst, const at::Tensor& src, std::size_t pair, std::optional<std::size_t> index,
                     bool decide) {
    // ZeroTensors are immutable: copy_ refuses one as destination before writing anything.
    if (dst._is_zerotensor()) torch_copy(dst, src, index);
    const bool views = strided_cpu_view(dst) && strided_cpu_view(src);
    if (decide && !views) dry_run(dst, src, index);
    // Undecided and alone, copy_ makes these checks itself before it writes.
    if (decide || views) {
        if (has_cpu_memory(dst) && has_cpu_memory(src))
            check_memory_and_shape(dst, src, true, index);
        else if (has_cpu_memory(dst))
            check_memory_and_shape(dst, dst, false, index); // internal overlap alone
        // A source without memory of its own (a Python wrapper) still has the shape copy_ checks.
        if (!has_cpu_memory(src) && src.layout() == at::kStrided && !src.is_nested()) check_shapes(dst, src, index);
    }
    check_version_bump(dst, index);
    return torch_plan(dst, src, pair);
}
} // namespace

Span extent_of(const at::Tensor& t, std::size_t pair, bool written) {
    if (!t.defined() || t.numel() == 0) return Span{0, 0, pair, written};
    return extent_at(t, t.data_ptr(), t.element_size(), pair, written);
}

// "Float[2, 3] strides [1, 2] on cpu"
std::string tensor_text(const at::Tensor& t) {
    if (!t.defined()) return "an undefined tensor";
    std::string text = std::string(c10::toString(t.scalar_type())) + shape_text(t.sizes());
    if (t.layout() == at::kStrided && !t.is_nested()) text += " strides " + shape_text(t.strides());
    return text + " on " + t.device().str();
}

void torch_copy(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    try {
        dst.copy_(src);
    } catch (const c10::Error& e) {
        throw_torch_error(e, index);
    }
}

namespace {

PairPlan plan_checked(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index, bool decide,
                      std::size_t min_run_bytes) {
    const std::size_t pair = index.value_or(0);
    check_defined(dst, src, index);
    const bool history = check_autograd(dst, src, index);
    // Built for another libtorch: its rules may differ from the fast paths', so copy_ writes all;
    // the checks above and exotic_plan's are torch's own functions.
    if (!loaded_torch_matches() || !plain_cpu_keys(dst) || !plain_cpu_keys(src))
        return exotic_plan(dst, src, pair, index, decide);

    PairPlan nothing; // copy_ writes every element onto itself, or there are none
    if (dst.is_same(src)) {
        check_version_bump(dst, index);
        return nothing;
    }
    const at::MemOverlapStatus overlap = check_memory_and_shape(dst, src, true, index);
    check_version_bump(dst, index);
    const std::int64_t numel = dst.numel();
    if (numel == 0) return nothing;
    // Each data_ptr() makes torch's storage checks again (a virtual call among them): asked once.
    char* const dst_data = static_cast<char*>(dst.data_ptr());
    const char* const src_data = static_cast<const char*>(src.data_ptr());
    if (dst_data == nullptr) reject(dst, src, index, "the destination's data pointer is null");
    if (src_data == nullptr) reject(dst, src, index, "the source's data pointer is null");

    // Pairs copy_ records history for (grad mode on, a tensor requiring grad) or whose forward
    // gradients it updates are copy_'s; every check it makes on them has been made above.
    if (history || has_forward_grad(dst, src)) return torch_plan(dst, src, pair);

    const bool same_dtype = dst.scalar_type() == src.scalar_type();
    const bool same_layout = dst.sizes().equals(src.sizes()) && dst.strides().equals(src.strides());
    // same_view's test, with the pointers in hand.
    if ((overlap == at::MemOverlapStatus::Full || (dst_data == src_data && same_layout)) && same_dtype) return nothing;

    const Conversion conversion = conversion_between(dst.scalar_type(), src.scalar_type());
    const std::size_t dst_element = dst.element_size(), src_element = src.element_size();
    const Span dst_extent = extent_at(dst, dst_data, dst_element, pair, true);
    const Span src_extent = extent_at(src, src_data, src_element, pair, false);
    const bool shared_bytes = dst_extent.begin < src_extent.end && src_extent.begin < dst_extent.end;
    if ((!same_dtype && conversion == Conversion::None) || shared_bytes) return torch_plan(dst, src, pair);

    PairPlan plan;
    plan.action = PairAction::Kernels;
    plan.conversion = conversion;
    plan.dst_data = dst_data;
    plan.src_data = src_data;
    plan.dst_element = dst_element;
    plan.src_element = src_element;
    plan.dst_bytes = static_cast<std::uint64_t>(numel) * dst_element;
    plan.dst_extent = dst_extent;
    plan.src_extent = src_extent;

    if (same_dtype && dst.is_contiguous() && src.is_contiguous() && dst.sizes().equals(src.sizes())) {
        plan.path = TensorPath::Contiguous;
        plan.layout.run_elements = static_cast<std::size_t>(numel);
        plan.layout.run_count = 1;
        return plan;
    }

    const std::vector<std::int64_t> src_strides = broadcast_strides(dst, src);
    std::vector<PairDim> dims(static_cast<std::size_t>(dst.dim()));
    for (std::size_t i = 0; i < dims.size(); ++i)
        dims[i] = PairDim{dst.size(static_cast<std::int64_t>(i)), dst.stride(static_cast<std::int64_t>(i)), src_strides[i]};
    if (!make_run_layout(std::move(dims), plan.dst_element, plan.src_element, plan.layout, min_run_bytes))
        return torch_plan(dst, src, pair);
    // A single-element copy goes through torch's scalar loop (0x7FC0 for NaN) whenever the source
    // is broadcast (0-dim, or [1] into [1, 1]: TensorIterator coalesces the dims to stride 0),
    // whatever its vectorized kernels write; found by fuzz_tensor (tests/fuzz/corpus-tensor/
    // crash-bf16-nan-*). One element costs nothing to hand over, so all of them go to copy_.
    if (conversion == Conversion::F32ToBF16 && (!bf16_nan_matches_torch() || dst.numel() == 1))
        return torch_plan(dst, src, pair);
    plan.path = same_dtype ? TensorPath::Strided : TensorPath::Converted;
    return plan;
}

} // namespace

PairPlan plan_pair(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index, bool decide,
                   std::size_t min_run_bytes) {
    try {
        return plan_checked(dst, src, index, decide, min_run_bytes);
    } catch (const c10::Error& e) {
        throw_torch_error(e, index); // a question torch refused to answer about a tensor (never ours)
    }
}

} // namespace detail
} // namespace tilecopy
