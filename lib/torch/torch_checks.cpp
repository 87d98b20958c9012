#include "torch_checks.hpp"

#include <sstream>
#include <vector>

#include <ATen/ExpandUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/empty_strided.h>
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

namespace {

bool plain_cpu_keys_of(c10::DispatchKeySet keys) {
    static const c10::DispatchKeySet plain({c10::DispatchKey::CPU, c10::DispatchKey::ADInplaceOrView,
                                            c10::DispatchKey::AutogradCPU, c10::DispatchKey::AutocastCPU});
    return keys.has(c10::DispatchKey::CPU) && (keys & plain) == keys;
}

} // namespace

bool plain_cpu_keys(const at::Tensor& t) {
    return plain_cpu_keys_of(t.unsafeGetTensorImpl()->key_set()) && t.layout() == at::kStrided && t.has_storage();
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

bool check_autograd(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    if (!records_history(dst, src)) return false;
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
    return true;
}

namespace {

void check_shape_of(const at::Tensor& dst, const at::Tensor& src) {
    if (src.sizes().equals(dst.sizes())) return;
    // The destination's shape is the starting point unless it has no dimensions.
    const at::DimVector shape =
        dst.dim() == 0 ? at::DimVector(src.sizes()) : at::infer_size_dimvector(dst.sizes(), src.sizes());
    if (!dst.sizes().equals(shape)) {
        std::ostringstream text;
        text << "output with shape " << dst.sizes() << " doesn't match the broadcast shape " << at::IntArrayRef(shape);
        AT_ERROR(text.str());
    }
}

} // namespace

at::MemOverlapStatus check_memory_and_shape(const at::Tensor& dst, const at::Tensor& src, bool shapes,
                                            std::optional<std::size_t> index) {
    // TensorIteratorBase::build: compute_mem_overlaps, then compute_shape and mark_resize_outputs.
    // assert_no_partial_overlap throws exactly when the status is Partial: asked only then, for
    // its message, so that the status is computed once.
    at::MemOverlapStatus status = at::MemOverlapStatus::No;
    as_torch_error(index, [&] {
        at::assert_no_internal_overlap(dst);
        status = at::get_overlap_status(dst, src);
        if (status == at::MemOverlapStatus::Partial) at::assert_no_partial_overlap(dst, src);
        if (shapes) check_shape_of(dst, src);
    });
    return status;
}

void check_shapes(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    as_torch_error(index, [&] { check_shape_of(dst, src); });
}

void check_version_bump(const at::Tensor& dst, std::optional<std::size_t> index) {
    if (!dst.is_inference() || c10::InferenceMode::is_enabled()) return;
    // An inference tensor's counter is a disabled one, whose bump() throws outside InferenceMode.
    as_torch_error(index, [] {
        c10::VariableVersion disabled(c10::VariableVersion::DISABLED);
        disabled.bump();
    });
}

bool strided_cpu_view(const at::Tensor& t) {
    static const c10::DispatchKeySet views({c10::DispatchKey::Conjugate, c10::DispatchKey::Negative});
    const c10::DispatchKeySet keys = t.unsafeGetTensorImpl()->key_set() - views;
    return plain_cpu_keys(t) || (keys.has(c10::DispatchKey::CPU) && !t.has_names() && t.layout() == at::kStrided &&
                                 t.has_storage() && plain_cpu_keys_of(keys));
}

namespace {

bool dispatches_to_python(const at::Tensor& t) {
    const c10::DispatchKeySet keys = t.unsafeGetTensorImpl()->key_set();
    return keys.has(c10::DispatchKey::Python) || keys.has(c10::DispatchKey::PythonTLSSnapshot);
}

// A twin of `dst` for dry_run: every element at one address when `dst` is strided CPU memory.
at::Tensor twin_of(const at::Tensor& dst) {
    if (!strided_cpu_view(dst)) return at::empty_like(dst);
    at::Tensor twin = at::empty_strided(dst.sizes(), std::vector<std::int64_t>(dst.sizes().size(), 0),
                                        dst.options());
    if (dst.is_neg()) twin = twin._neg_view();
    if (dst.is_conj()) twin = twin._conj();
    return twin;
}

// What TensorIterator says of a twin whose elements share one address.
const std::string& twin_refusal() {
    static const std::string text = [] {
        try {
            at::assert_no_internal_overlap(at::empty_strided({2}, {0}, at::kFloat));
        } catch (const c10::Error& e) {
            return std::string(e.what_without_backtrace());
        }
        return std::string("more than one element of the written-to tensor refers to a single memory location");
    }();
    return text;
}

} // namespace

void dry_run(const at::Tensor& dst, const at::Tensor& src, std::optional<std::size_t> index) {
    // copy_ of a __torch_dispatch__ tensor runs the user's Python: its answer for a twin says
    // nothing of the real pair (a wrapper that forwards to the real op meets the twin's shared
    // address and refuses), and it may block or have effects of its own.
    if (dispatches_to_python(dst) || dispatches_to_python(src)) return;
    at::Tensor twin;
    try {
        twin = twin_of(dst);
    } catch (const c10::Error&) {
        return; // no twin for this kind of tensor: copy_ is asked when the pair is written
    }
    at::NoGradGuard no_history; // autograd's checks are check_autograd's
    try {
        twin.copy_(src);
    } catch (const c10::Error& e) {
        if (twin.numel() > 1 && e.what_without_backtrace() == twin_refusal()) return;
        throw_torch_error(e, index);
    } catch (const std::exception& e) {
        // copy_ run by Python (__torch_dispatch__) raises a Python error carrying torch's text;
        // any other answer passes through as it is, for the caller's bindings to translate.
        if (twin.numel() > 1 && std::string(e.what()).find(twin_refusal()) != std::string::npos) return;
        throw;
    }
}

} // namespace tilecopy::detail
