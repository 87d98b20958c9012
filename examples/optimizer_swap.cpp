// An optimizer-state swap as a trainer does it (ZeRO-Offload / DeepSpeed's swapper): the
// fp32 master weights and Adam's two moments of every parameter are moved out to page-aligned
// staging buffers and back with one asynchronous batch each way, while the trainer does other
// work; then the bf16 weights the model computes with are cast from the fp32 masters. Every
// step is checked byte for byte against torch's copy_; exits 1 on any mismatch.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

namespace {

constexpr std::size_t kPage = 4096;

// One staging buffer for a kind of state (weights, exp_avg, exp_avg_sq): page-aligned host
// memory, each parameter's slice starting on its own page, as an aio swapper wants it.
struct Staging {
    std::vector<at::Tensor> slices;

    explicit Staging(const std::vector<at::Tensor>& params) {
        std::vector<std::size_t> offsets;
        std::size_t bytes = 0;
        for (const auto& p : params) {
            offsets.push_back(bytes);
            bytes += (p.nbytes() + kPage - 1) / kPage * kPage;
        }
        void* memory = std::aligned_alloc(kPage, bytes);
        if (!memory) throw std::bad_alloc();
        // The first slice owns the allocation; the others are views into it that keep it alive.
        at::Tensor whole = at::from_blob(memory, {static_cast<std::int64_t>(bytes)}, [](void* p) { std::free(p); },
                                         at::TensorOptions().dtype(at::kByte));
        for (std::size_t i = 0; i < params.size(); ++i)
            slices.push_back(whole.narrow(0, static_cast<std::int64_t>(offsets[i]), static_cast<std::int64_t>(params[i].nbytes()))
                                 .view(at::kFloat)
                                 .view(params[i].sizes()));
    }
};

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int main() {
    tilecopy::CopyEngine engine;
    at::manual_seed(0);

    // A small transformer's worth of parameters: embeddings, attention and MLP blocks, norms.
    const std::vector<std::vector<std::int64_t>> shapes = {
        {8192, 256}, {256, 768}, {768}, {256, 256}, {256}, {256, 1024}, {1024}, {1024, 256}, {256}, {256}, {7}};
    std::vector<at::Tensor> weights, exp_avg, exp_avg_sq;
    for (const auto& s : shapes) {
        weights.push_back(at::randn(s));
        exp_avg.push_back(at::randn(s) * 1e-3);
        exp_avg_sq.push_back(at::rand(s) * 1e-6);
    }
    std::vector<at::Tensor> state; // weights, then both moments: one batch for all of it
    for (const auto* group : {&weights, &exp_avg, &exp_avg_sq}) state.insert(state.end(), group->begin(), group->end());
    std::vector<at::Tensor> originals;
    for (const auto& t : state) originals.push_back(t.clone());

    Staging staged_weights(weights), staged_avg(exp_avg), staged_avg_sq(exp_avg_sq);
    std::vector<at::Tensor> staging;
    for (const auto* group : {&staged_weights, &staged_avg, &staged_avg_sq})
        staging.insert(staging.end(), group->slices.begin(), group->slices.end());

    std::size_t bytes = 0;
    for (const auto& t : state) bytes += t.nbytes();
    int failures = 0;
    auto check = [&failures](bool ok, const std::string& what) {
        if (!ok) {
            std::fprintf(stderr, "optimizer_swap: %s differs from copy_\n", what.c_str());
            ++failures;
        }
    };

    // Swap out: parameters -> staging, overlapped with the trainer's other work.
    auto start = std::chrono::steady_clock::now();
    tilecopy::CopyHandle out = engine.copy_batch_async(staging, state);
    const at::Tensor unrelated = at::randn({512, 512});
    const double busy = unrelated.matmul(unrelated).sum().item<double>(); // work while the copy runs
    out.wait();
    const double out_s = seconds_since(start);
    for (std::size_t i = 0; i < state.size(); ++i) check(same_bytes(staging[i], originals[i]), "staged tensor " + std::to_string(i));

    // The parameters' memory is reused while they are swapped out.
    for (auto& t : state) t.fill_(-1.0f);

    // Swap in: staging -> parameters.
    start = std::chrono::steady_clock::now();
    tilecopy::CopyHandle in = engine.copy_batch_async(state, staging);
    in.wait();
    const double in_s = seconds_since(start);
    if (in.bytes_copied() != bytes) check(false, "the swap-in handle's byte count");
    for (std::size_t i = 0; i < state.size(); ++i) check(same_bytes(state[i], originals[i]), "restored tensor " + std::to_string(i));

    // The bf16 weights the forward pass uses, cast from the fp32 masters.
    for (const auto& w : weights) {
        at::Tensor by_engine = at::empty(w.sizes(), at::kBFloat16);
        at::Tensor by_torch = at::empty(w.sizes(), at::kBFloat16);
        engine.copy(by_engine, w);
        by_torch.copy_(w);
        check(same_bytes(by_engine, by_torch), "bf16 weights of shape " + std::to_string(w.numel()));
    }

    std::printf("optimizer_swap: %zu tensors, %.1f MiB each way: out %.2f ms, in %.2f ms (side work %.3g); %s\n",
                state.size(), static_cast<double>(bytes) / (1 << 20), out_s * 1e3, in_s * 1e3, busy,
                failures ? "MISMATCH" : "all copies match copy_");
    return failures ? 1 : 0;
}
