#include "torch_checks.hpp"

#include <sstream>

#include <ATen/ExpandUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/ops/empty_like.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/TensorImpl.h>
#include <torch/csrc/autograd/variable.h>

#include <tilecopy/error.hpp>

namespace tilecopy::detail {

void throw_torch_error(const c10::Error& e, std::optional<std::size_t> index) {
    std::string text = e.what_without_backtrace();
    if (index) text += " (pair " + std::to_string(*index) + " of the batch)";
    throw Error(text);
}

namespace {

template <class Check>
void as_torch_error(std::optional<std::size_t> index, Check&& check) {
    try {
        check();
    } catch (const c10::Error& e) {
        throw_torch_error(e, index);
    }
}

bool differentiable(at::ScalarType t) { return at::isFloatingType(t) || at::isComplexType(t); }

} // namespace

bool plain_cpu_keys(const at::Tensor& t) {
    static const c10::DispatchKeySet plain({c10::DispatchKey::CPU, c10::DispatchKey::ADInplaceOrView,
                                            c10::DispatchKey::AutogradCPU, c10::DispatchKey::AutocastCPU});
    const c10::DispatchKeySet keys = t.unsafeGetTensorImpl()->key_set();
    return keys.has(c10::DispatchKey::CPU) && (keys & plain) == keys && t.layout() == at::kStrided && t.has_storage();
}

bool records_history(const at::Tensor& dst, const at::Tensor& src) {
    return at::GradMode::is_enabled() && (dst.requires_grad() || src.requires_grad()) &&
           differentiable(dst.scalar_type());
}

bool has_forward_grad(const at::Tensor& dst, const at::Tensor& src) {
    return dst._fw_grad(0).defined() || src._fw_grad(0).defined();
}

void check_defined(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    if (dst.defined() && src.defined()) return;
    // copy_ refuses before anything else (VariableType's unpack) and has nothing to write.
    as_torch_error(index, [&] { const_cast<at::Tensor&>(dst).copy_(src); });
    throw Error("tilecopy: cannot copy with an undefined tensor"); // copy_ always refuses it
}

void check_autograd(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    if (!records_history(dst, src)) return;
    // torch::autograd::check_inplace (VariableTypeUtils.h), which copy_'s autograd kernel runs.
    as_torch_error(index, [&] {
        auto* view = torch::autograd::impl::get_view_autograd_meta(dst);
        if (view && view->has_bw_view()) {
            torch::autograd::handle_view_on_rebase(view);
            if (dst.requires_grad() && dst._base().is_leaf())
                AT_ERROR("a view of a leaf Variable that requires grad is being used in an in-place operation.");
        }
        if (dst.requires_grad() && dst.is_leaf())
            AT_ERROR("a leaf Variable that requires grad is being used in an in-place operation.");
    });
}

void check_memory_and_shape(const at::Tensor& dst, const at::Tensor& src, bool shapes,
                            std::optional<std::size_t> index) {
    // TensorIteratorBase::build: compute_mem_overlaps, then compute_shape and mark_resize_outputs.
    as_torch_error(index, [&] {
        at::assert_no_internal_overlap(dst);
        at::assert_no_partial_overlap(dst, src);
        if (!shapes || src.sizes().equals(dst.sizes())) return;
        // The destination's shape is the starting point unless it has no dimensions.
        const at::DimVector shape =
            dst.dim() == 0 ? at::DimVector(src.sizes()) : at::infer_size_dimvector(dst.sizes(), src.sizes());
        if (!dst.sizes().equals(shape)) {
            std::ostringstream text;
            text << "output with shape " << dst.sizes() << " doesn't match the broadcast shape "
                 << at::IntArrayRef(shape);
            AT_ERROR(text.str());
        }
    });
}

void check_version_bump(const at::Tensor& dst, std::optional<std::size_t> index) {
    if (!dst.is_inference() || c10::InferenceMode::is_enabled()) return;
    // An inference tensor's counter is a disabled one, whose bump() throws outside InferenceMode.
    as_torch_error(index, [] {
        c10::VariableVersion disabled(c10::VariableVersion::DISABLED);
        disabled.bump();
    });
}

void dry_run(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    at::Tensor twin;
    try {
        twin = at::empty_like(dst);
    } catch (const c10::Error&) {
        return; // no twin for this kind of tensor: copy_ is asked when the pair is written
    }
    at::NoGradGuard no_history; // autograd's checks are check_autograd's
    as_torch_error(index, [&] { twin.copy_(src); });
}

} // namespace tilecopy::detail
