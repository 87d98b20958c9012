// Asynchronous tensor copies: the engine keeps the tensors alive, handles and engines destroyed
// early wait, many threads submit at once, and a small copy does not queue behind a large one.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "torch_doctest.hpp"

using namespace tilecopy::test;

namespace {

// Memory under a tensor that reports how it was released: whether the copy's handle was done
// by then, and whether it held the expected bytes at that moment.
struct WatchedMemory {
    std::vector<unsigned char> expected;
    const tilecopy::CopyHandle* handle = nullptr;
    std::atomic<bool> freed{false};
    bool done_when_freed = false;
    bool held_expected = false;
};

at::Tensor watched_tensor(WatchedMemory& watch, std::size_t floats, std::uint32_t seed) {
    auto* memory = static_cast<unsigned char*>(std::malloc(floats * sizeof(float)));
    REQUIRE(memory != nullptr);
    const at::Tensor view = at::from_blob(memory, {static_cast<std::int64_t>(floats)}, at::kFloat);
    fill_noise(view, seed);
    return at::from_blob(memory, {static_cast<std::int64_t>(floats)}, [&watch](void* p) {
        watch.done_when_freed = watch.handle != nullptr && watch.handle->done();
        watch.held_expected = !watch.expected.empty() && std::memcmp(p, watch.expected.data(), watch.expected.size()) == 0;
        std::free(p);
        watch.freed = true;
    }, at::kFloat);
}

bool same_storage_bytes(const Batch& a, const Batch& b) { return all_bytes(a) == all_bytes(b); }

} // namespace

TEST_CASE("an asynchronous copy keeps its tensors alive after the caller drops them") {
    const std::size_t floats = (std::size_t(64) << 20) / kSanitizedDivisor; // 256 MiB (sanitized: 64): still running when dropped
    WatchedMemory dst_watch, src_watch;
    tilecopy::CopyHandle handle;
    dst_watch.handle = src_watch.handle = &handle;
    {
        tilecopy::CopyEngine engine;
        at::Tensor src = watched_tensor(src_watch, floats, 1);
        at::Tensor dst = watched_tensor(dst_watch, floats, 2);
        const auto* s = static_cast<const unsigned char*>(src.data_ptr());
        dst_watch.expected.assign(s, s + floats * sizeof(float));
        src_watch.expected = dst_watch.expected;
        handle = engine.copy_async(dst, src);
        src = at::Tensor();
        dst = at::Tensor();
        CHECK(handle.bytes_total() == floats * sizeof(float));
        handle.wait();
        // The engine released the tensors before it published completion: wait() returned
        // after their deleters ran, which saw the copy not yet done and the bytes all there.
        CHECK(dst_watch.freed);
        CHECK(src_watch.freed);
    }
    CHECK_FALSE(dst_watch.done_when_freed);
    CHECK_FALSE(src_watch.done_when_freed);
    CHECK(dst_watch.held_expected);
    CHECK(src_watch.held_expected);
}

TEST_CASE("destroying an unfinished handle, or the engine, waits for the tensor copies") {
    const auto specs = mixed_specs();
    const Batch ref = make_batch(specs, 20);
    for (std::size_t i = 0; i < specs.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);

    tilecopy::CopyEngine engine;
    const Batch by_handle = make_batch(specs, 20);
    { tilecopy::CopyHandle h = engine.copy_batch_async(by_handle.dsts, by_handle.srcs); }
    CHECK(same_storage_bytes(ref, by_handle));

    const Batch by_engine = make_batch(specs, 20);
    const Batch single = make_batch(specs, 20);
    tilecopy::CopyHandle batch_handle, single_handle;
    {
        tilecopy::CopyEngine short_lived;
        batch_handle = short_lived.copy_batch_async(by_engine.dsts, by_engine.srcs);
        single_handle = short_lived.copy_async(single.dsts[12], single.srcs[12]);
    }
    CHECK(batch_handle.done());
    CHECK(single_handle.done());
    CHECK(same_storage_bytes(ref, by_engine));
    CHECK(storage_bytes(single.dsts[12]) == storage_bytes(ref.dsts[12]));
}

TEST_CASE("eight threads submitting tensor copies and batches at once all get copy_'s results") {
    tilecopy::CopyEngine engine;
    std::vector<Spec> specs;
    for (const Spec& s : mixed_specs())
        if (s.shape.size() == 1 || s.shape[0] * s.shape.back() <= 64 * 4096) specs.push_back(s); // keep it quick
    std::atomic<int> bad{0}, errors{0};
    std::vector<std::thread> threads;
    for (std::uint32_t t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            try {
                for (std::uint32_t round = 0; round < 4; ++round) {
                    const std::uint32_t seed = 1000 * t + 10 * round;
                    const Batch ref = make_batch(specs, seed);
                    for (std::size_t i = 0; i < specs.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
                    const Batch a = make_batch(specs, seed), b = make_batch(specs, seed), c = make_batch(specs, seed);
                    tilecopy::CopyHandle batch = engine.copy_batch_async(a.dsts, a.srcs);
                    std::vector<tilecopy::CopyHandle> singles;
                    for (std::size_t i = 0; i < specs.size(); ++i) singles.push_back(engine.copy_async(b.dsts[i], b.srcs[i]));
                    engine.copy_batch(c.dsts, c.srcs);
                    batch.wait();
                    for (auto& h : singles) h.wait();
                    const auto expected = all_bytes(ref);
                    bad += (all_bytes(a) != expected) + (all_bytes(b) != expected) + (all_bytes(c) != expected);
                }
            } catch (const std::exception&) {
                ++errors;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(bad.load() == 0);
    CHECK(errors.load() == 0);
}

TEST_CASE("a small tensor copy during a large asynchronous one finishes first") {
    tilecopy::CopyEngine engine;
    const std::int64_t big = (std::int64_t(1) << 28) / std::int64_t(kSanitizedDivisor); // 1 GiB of float32 (sanitized: 256 MiB)
    const at::Tensor big_src = at::full({big}, 1.5f);
    const at::Tensor big_dst = at::zeros({big});
    tilecopy::CopyHandle h = engine.copy_async(big_dst, big_src);
    const at::Tensor small_src = make_tensor(Layout::Contiguous, at::kFloat, {1024}, Fill::Values, 4);
    const at::Tensor small_dst = make_tensor(Layout::Narrowed, at::kFloat, {1024}, Fill::Noise, 5);
    at::Tensor expected = make_tensor(Layout::Narrowed, at::kFloat, {1024}, Fill::Noise, 5);
    expected.copy_(small_src);
    engine.copy(small_dst, small_src);
    const bool big_still_running = !h.done();
    CHECK(storage_bytes(small_dst) == storage_bytes(expected));
    h.wait();
    CHECK(big_still_running);
    CHECK(std::memcmp(big_dst.data_ptr(), big_src.data_ptr(), big_src.nbytes()) == 0);
}

TEST_CASE("an asynchronous copy or batch that copy_ refuses is refused at submission, nothing written") {
    tilecopy::CopyEngine engine;
    const auto f = [](Shape s, std::uint32_t seed) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); };
    // copy_ refuses a sparse source into a dense destination, and an mkldnn one; tilecopy asks copy_.
    const std::string sparse = "copy_() between dense and sparse Tensors is not implemented! Found self type = "
                               "CPUFloatType and src type = SparseCPUFloatType";
    const at::Tensor dst = f({3}, 1);
    const auto before = storage_bytes(dst);
    CHECK_THROWS_WITH_AS(engine.copy_async(dst, f({3}, 2).to_sparse()), sparse.c_str(), tilecopy::Error);
    CHECK_THROWS_WITH_AS(engine.copy_async(dst, f({3}, 3).nan_to_num().to_mkldnn()),
                         doctest::Contains("between mkldnn layout and dense Tensors"), tilecopy::Error);
    const at::Tensor large = f({1 << 16}, 4);
    const auto large_before = storage_bytes(large);
    CHECK_THROWS_WITH_AS(engine.copy_batch_async({large, dst}, {f({1 << 16}, 5), f({3}, 6).to_sparse()}),
                         (sparse + " (pair 1 of the batch)").c_str(), tilecopy::Error);
    CHECK(storage_bytes(dst) == before);
    CHECK(storage_bytes(large) == large_before);
    // What copy_ accepts is still carried out on the submitter thread.
    const at::Tensor sparse_dst = f({3}, 7).to_sparse();
    tilecopy::CopyHandle h = engine.copy_async(sparse_dst, f({3}, 8).to_sparse());
    h.wait();
    CHECK(h.done());
    const at::Tensor expected = f({3}, 7).to_sparse();
    expected.copy_(f({3}, 8).to_sparse());
    CHECK(storage_bytes(sparse_dst.to_dense()) == storage_bytes(expected.to_dense()));
}

TEST_CASE("a tensor batch under limits copies like copy_, and cancelled frees its tensors with exact progress") {
    tilecopy::Options o;
    o.block_bytes = 64 << 10;
    tilecopy::CopyEngine engine(o);
    // Limited: one thread, background, a rate that a batch of 3 MiB meets in well under a second.
    std::vector<at::Tensor> srcs, dsts;
    for (int i = 0; i < 3; ++i) {
        srcs.push_back(at::arange(1 << 18, at::kFloat).mul_(0.37f + float(i)));
        dsts.push_back(at::zeros({1 << 18}, i == 2 ? at::kBFloat16 : at::kFloat));
    }
    tilecopy::AsyncOptions limits;
    limits.threads = 1;
    limits.bytes_per_second = std::uint64_t(64) << 20;
    limits.priority = tilecopy::Priority::Background;
    engine.copy_batch_async(dsts, srcs, limits).wait();
    for (int i = 0; i < 3; ++i) CHECK(storage_bytes(dsts[i]) == storage_bytes(at::empty_like(dsts[i]).copy_(srcs[i])));

    // Held at its first block by a rate of 1 byte a second, then cancelled: the tensors the
    // handle kept alive are released, only finished blocks count, the rest is untouched.
    WatchedMemory watch;
    at::Tensor dst = at::zeros({1 << 20}, at::kFloat);
    tilecopy::CopyHandle h;
    {
        at::Tensor src = watched_tensor(watch, 1 << 20, 50);
        tilecopy::AsyncOptions slow;
        slow.threads = 1;
        slow.bytes_per_second = 1;
        h = engine.copy_async(dst, src, slow);
    }
    while (h.bytes_copied() == 0) std::this_thread::yield();
    h.cancel();
    const std::uint64_t n = h.bytes_copied();
    CHECK_THROWS_WITH_AS(h.wait(), ("tilecopy: cancelled after " + std::to_string(n) + " of 4194304 bytes").c_str(),
                         tilecopy::Error);
    CHECK(watch.freed);
    CHECK(n % sizeof(float) == 0);
    CHECK(n < (std::uint64_t(4) << 20));
    const auto* d = static_cast<const unsigned char*>(dst.data_ptr());
    bool rest_untouched = true;
    for (std::size_t i = n; i < (std::size_t(4) << 20); ++i) rest_untouched = rest_untouched && d[i] == 0;
    CHECK(rest_untouched);
}
