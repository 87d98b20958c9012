// torch's own checks and words: every refusal of a tensor pair that copy_ would refuse carries
// the message copy_ gives, thrown by the very torch function copy_ calls where one is exported
// (assert_no_internal_overlap, infer_size, handle_view_on_rebase, VariableVersion::bump), so the
// wording cannot drift from the libtorch that is loaded.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <ATen/MemoryOverlap.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace tilecopy::detail {

// torch's message (what_without_backtrace(): what Python shows), followed by " (pair N of the
// batch)" for a pair of a batch. The one place that turns a c10::Error into a tilecopy::Error.
[[noreturn]] void throw_torch_error(const c10::Error& e, std::optional<std::size_t> index);

// Whether a tensor's key set is exactly a plain dense CPU tensor's (CPU, ADInplaceOrView,
// AutogradCPU, AutocastCPU): no functionalization, Python, batched, meta, lazy, nested, sparse,
// quantized, mkldnn, conjugate, negative, zero or named key. The fast paths see no other tensor.
bool plain_cpu_keys(const at::Tensor& t);

// Whether copy_ records autograd history for the pair (VariableType's compute_requires_grad:
// grad mode on, either tensor requiring grad, a differentiable destination dtype).
bool records_history(const at::Tensor& dst, const at::Tensor& src);

// Whether either tensor carries a forward-mode gradient (a dual tensor), which copy_ updates.
bool has_forward_grad(const at::Tensor& dst, const at::Tensor& src);

// copy_'s checks in copy_'s order, each throwing copy_'s message as tilecopy::Error:
// an undefined tensor (asked of copy_ itself, which cannot write then);
void check_defined(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index);
// autograd's check_inplace when history is recorded (a leaf or a view of a leaf requiring grad,
// views created in no_grad mode or as one of several outputs);
// returns records_history(dst, src), asked once.
bool check_autograd(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index);
// TensorIterator's: internal overlap of the destination, partial overlap with the source, then
// the shapes (the source must broadcast to the destination's shape);
// returns how dst and src overlap (never Partial: that is refused), as at::get_overlap_status;
at::MemOverlapStatus check_memory_and_shape(const at::Tensor& dst, const at::Tensor& src, bool shapes,
                                            std::optional<std::size_t> index);
// the shapes alone (the source must broadcast to the destination's shape);
void check_shapes(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index);
// the version counter bump after the write (an inference tensor outside InferenceMode), which
// copy_ throws only after writing and tilecopy before.
void check_version_bump(const at::Tensor& dst, std::optional<std::size_t> index);

// Whether a tensor is a plain dense CPU tensor (plain_cpu_keys) that may also be a conjugate or
// negative view: strided CPU memory whose every refusal by copy_ tilecopy's checks make.
bool strided_cpu_view(const at::Tensor& t);

// Asks copy_ whether it accepts a pair of tensors outside the fast paths' reach, writing neither
// the destination nor more than one element of scratch memory: copies into a twin with the
// destination's dtype, shape and conjugate and negative bits whose elements all share one
// address. copy_ makes its refusals of tensor kinds (sparse, quantized, mkldnn, Python
// dispatch...) before TensorIterator's internal-overlap check, which refuses the twin: reaching
// that check is an acceptance. Destinations no such twin can stand for (sparse, quantized,
// named...) get an empty_like twin (a sparse one holds no elements). A pair with a
// __torch_dispatch__ tensor is not asked: its Python decides when the pair is written (first of
// the batch's pairs, ahead of every pair the kernels write). Throws copy_'s refusal;
// the checks against the real destination's memory, autograd and version are the caller's.
void dry_run(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index);

} // namespace tilecopy::detail
