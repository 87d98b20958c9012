// torch's copy_ and tilecopy's tensor copy; with torch_batch_methods.cpp, the only benchmark
// files that include ATen.
#include <cstring>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <tilecopy/torch.hpp>

#include "sections.hpp"

namespace bench {

namespace {


// Contiguous 1-D tensors viewing a pair's buffers (no copy, no ownership).
struct TensorView {
    at::Tensor dst;
    at::Tensor src;
};

TensorView view_pair(const BufferPair& pair, bool float_tensors) {
    // A size that is not a whole number of floats is viewed as bytes.
    bool as_float = float_tensors && pair.bytes() % sizeof(float) == 0;
    auto options = at::TensorOptions().dtype(as_float ? at::kFloat : at::kByte);
    auto count = static_cast<std::int64_t>(pair.bytes() / (as_float ? sizeof(float) : 1));
    return {at::from_blob(pair.dst(), {count}, options), at::from_blob(pair.src(), {count}, options)};
}

struct ConversionBuffers {
    Buffer src_memory;
    Buffer dst_memory;
    Buffer expected_memory;
    at::Tensor src;
    at::Tensor dst;
    at::Tensor expected; // torch's own conversion, computed once, for verification
};

// Finite floats with varied mantissas, so that rounding to bfloat16 is exercised.
void fill_floats(float* out, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u;
        out[i] = static_cast<float>(h >> 8) * 1e-3f - 8000.0f;
    }
}

std::string compare_converted(const ConversionBuffers& b, std::size_t dst_bytes) {
    if (std::memcmp(b.dst.data_ptr(), b.expected.data_ptr(), dst_bytes) != 0)
        return "converted values differ from torch's .to()";
    if (!canary_intact(static_cast<const unsigned char*>(b.dst.data_ptr()) + dst_bytes))
        return "bytes written past the end of the destination";
    return {};
}

} // namespace

void set_torch_threads(int threads) {
    at::set_num_threads(threads);
}

std::string torch_version() {
    return TORCH_VERSION;
}

void add_torch_copy_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    auto view = std::make_shared<TensorView>(view_pair(*pair, ctx.float_tensors));
    section.variants.push_back(byte_copy_variant("torch", "torch copy_", pair, [view] { view->dst.copy_(view->src); }));
}

void add_tilecopy_tensor_variant(Section& section, const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    auto view = std::make_shared<TensorView>(view_pair(*pair, ctx.float_tensors));
    tilecopy::CopyEngine* engine = ctx.engine;
    section.variants.push_back(byte_copy_variant("tilecopy-tensor", "tilecopy-tensor", pair,
                                                 [engine, view] { engine->copy(view->dst, view->src); }));
}

Section conversion_section(ConversionDirection direction, std::size_t f32_bytes, const Context& ctx) {
    const bool to_bf16 = direction == ConversionDirection::F32ToBF16;
    const std::size_t count = f32_bytes / sizeof(float);
    const std::size_t bf16_bytes = count * 2;
    const at::ScalarType src_type = to_bf16 ? at::kFloat : at::kBFloat16;
    const at::ScalarType dst_type = to_bf16 ? at::kBFloat16 : at::kFloat;

    Section s;
    s.name = to_bf16 ? "f32->bf16" : "bf16->f32";
    s.size_bytes = count * 4;
    s.src_bytes = to_bf16 ? count * 4 : bf16_bytes;
    s.dst_bytes = to_bf16 ? bf16_bytes : count * 4;

    auto b = std::make_shared<ConversionBuffers>();
    b->src_memory = Buffer(s.src_bytes);
    b->dst_memory = Buffer(s.dst_bytes + kCanaryBytes);
    b->expected_memory = Buffer(s.dst_bytes);
    auto n = static_cast<std::int64_t>(count);
    b->src = at::from_blob(b->src_memory.data(), {n}, at::TensorOptions().dtype(src_type));
    b->dst = at::from_blob(b->dst_memory.data(), {n}, at::TensorOptions().dtype(dst_type));
    b->expected = at::from_blob(b->expected_memory.data(), {n}, at::TensorOptions().dtype(dst_type));
    if (to_bf16) {
        fill_floats(static_cast<float*>(b->src.data_ptr()), count);
    } else {
        // bfloat16 sources are floats truncated to their upper halves (all finite).
        Buffer floats(count * sizeof(float));
        fill_floats(reinterpret_cast<float*>(floats.data()), count);
        auto* out = static_cast<unsigned char*>(b->src.data_ptr());
        for (std::size_t i = 0; i < count; ++i)
            std::memcpy(out + 2 * i, floats.data() + 4 * i + 2, 2);
    }
    std::memset(b->dst_memory.data(), 0, b->dst_memory.size()); // touch every page
    b->expected.copy_(b->src);
    s.buffers = b;

    const std::size_t dst_bytes = s.dst_bytes;
    auto add = [&](std::string method, std::string label, std::function<void()> copy) {
        Variant v;
        v.method = std::move(method);
        v.label = std::move(label);
        v.copy = copy;
        v.verify = [b, dst_bytes, copy]() -> std::string {
            std::memset(b->dst_memory.data(), 0, dst_bytes);
            std::memset(b->dst_memory.data() + dst_bytes, kCanaryByte, kCanaryBytes);
            copy();
            return compare_converted(*b, dst_bytes);
        };
        s.variants.push_back(std::move(v));
    };
    ConversionBuffers* raw = b.get();
    if (ctx.methods.tilecopy_tensor || ctx.methods.tilecopy) {
        tilecopy::CopyEngine* engine = ctx.engine;
        add("tilecopy-tensor", "tilecopy-tensor", [engine, raw] { engine->copy(raw->dst, raw->src); });
    }
    if (ctx.methods.torch) {
        add("torch", "torch copy_", [raw] { raw->dst.copy_(raw->src); });
        if (s.variants.size() == 2) {
            s.variants[1].reference = 0;
            s.variants[0].best_of = {1}; // tilecopy against copy_, as in every other section
        }
    }
    return s;
}

} // namespace bench
