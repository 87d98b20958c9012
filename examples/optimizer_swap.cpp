// An optimizer-state swap as a trainer does it (ZeRO-Offload / DeepSpeed's swapper): the
// fp32 master weights and Adam's two moments of every parameter are moved out to page-aligned
// staging buffers and back with one asynchronous batch each way, while the trainer does other
// work; then the bf16 weights the model computes with are cast from the fp32 masters. Then a
// few training steps with asynchronous checkpointing: every kSnapshotEvery steps the optimizer
// state is snapshotted in the background (throttled, background priority, into the previous
// snapshot's memory) while the next forward/backward runs, and the snapshot must equal the state
// of its step. Every step is checked byte for byte against torch's copy_ (or clone for the
// snapshots); exits 1 on any mismatch.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/snapshot.hpp>
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

    // Training steps with a background snapshot of the optimizer state every kSnapshotEvery
    // steps. The update writes the state, so a snapshot must be done before the next update; the
    // forward/backward in between (which only reads the weights) overlaps with it.
    constexpr int kSteps = 6, kSnapshotEvery = 2;
    tilecopy::SnapshotOptions background;
    background.limits.bytes_per_second = std::uint64_t(4) << 30; // staging must not take the trainer's bandwidth
    background.limits.threads = 1;
    background.checksum = tilecopy::Checksum::crc32c;
    std::vector<at::Tensor> previous; // the last snapshot: the next one copies into its memory
    std::size_t snapshots = 0, allocated_after_first = 0;
    const at::Tensor activations = at::randn({256, 256});
    double loss = 0;
    for (int step = 1; step <= kSteps; ++step) {
        for (std::size_t i = 0; i < weights.size(); ++i) { // Adam's update with a made-up gradient
            const at::Tensor grad = at::sin(weights[i] * static_cast<double>(step));
            exp_avg[i].mul_(0.9).add_(grad, 0.1);
            exp_avg_sq[i].mul_(0.999).addcmul_(grad, grad, 0.001);
            weights[i].addcdiv_(exp_avg[i], exp_avg_sq[i].sqrt().add_(1e-8), -1e-3);
        }
        if (step % kSnapshotEvery != 0) continue;
        std::vector<at::Tensor> expected;
        for (const auto& t : state) expected.push_back(t.clone());
        tilecopy::SnapshotHandle snap = tilecopy::snapshot_async(engine, state, background, previous);
        if (snapshots > 0) allocated_after_first += snap.allocated_tensors();
        const double forward = activations.matmul(activations).relu().sum().item<double>(); // next step's compute
        std::vector<at::Tensor> taken = snap.result();
        const std::vector<std::uint32_t> sums = snap.checksums();
        for (std::size_t i = 0; i < state.size(); ++i) {
            check(same_bytes(taken[i], expected[i]), "snapshot " + std::to_string(snapshots) + " tensor " + std::to_string(i));
            check(sums[i] == engine.checksum(expected[i], tilecopy::Checksum::crc32c),
                  "snapshot " + std::to_string(snapshots) + " checksum " + std::to_string(i));
        }
        loss = forward;
        previous = std::move(taken);
        ++snapshots;
    }
    check(allocated_after_first == 0, "snapshots into the previous one (they allocated)");

    std::printf("optimizer_swap: %zu tensors, %.1f MiB each way: out %.2f ms, in %.2f ms (side work %.3g); "
                "%zu background snapshots in %d steps (loss %.3g); %s\n",
                state.size(), static_cast<double>(bytes) / (1 << 20), out_s * 1e3, in_s * 1e3, busy, snapshots,
                kSteps, loss, failures ? "MISMATCH" : "all copies match copy_");
    return failures ? 1 : 0;
}
