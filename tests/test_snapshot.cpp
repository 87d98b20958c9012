// Snapshots: values and layout equal clone()'s, `into` reused tensor by tensor (only what
// changed allocated), non-CPU tensors refused by index or kept, checksums against the bitwise
// CRC, limits refused for the synchronous form, and cancellation at every stage with exact
// progress and nothing handed out.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <tilecopy/snapshot.hpp>

#include "torch_doctest.hpp"

#include "crc_reference.hpp"

using tilecopy::Checksum;
using tilecopy::CopyEngine;
using tilecopy::NonCpu;
using tilecopy::SnapshotOptions;

namespace {

// Sources of several dtypes and layouts: contiguous, transposed (clone keeps its strides), a
// non-dense slice (clone makes it dense), a scalar and an empty tensor.
std::vector<at::Tensor> sources(std::uint32_t seed) {
    std::vector<at::Tensor> out = {
        at::empty({64, 1000}, at::kFloat),
        at::empty({300, 70}, at::kDouble).t(),
        at::empty({50, 40}, at::kBFloat16).slice(1, 0, 40, 3),
        at::empty({}, at::kLong),
        at::empty({0, 5}, at::kFloat),
        at::empty({4096}, at::kByte),
    };
    for (std::size_t i = 0; i < out.size(); ++i) tilecopy::test::fill_noise(out[i], seed + std::uint32_t(i));
    return out;
}

// Bitwise (fill_noise's values hold NaNs, which at::equal calls unequal).
bool same_values(const at::Tensor& a, const at::Tensor& b) {
    const at::Tensor x = a.contiguous(), y = b.contiguous();
    return x.sizes().equals(y.sizes()) && x.scalar_type() == y.scalar_type() &&
           (x.nbytes() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0);
}

void check_equal_clones(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& srcs) {
    REQUIRE(got.size() == srcs.size());
    for (std::size_t i = 0; i < srcs.size(); ++i) {
        CAPTURE(i);
        const at::Tensor expected = srcs[i].clone();
        CHECK((got[i].scalar_type() == expected.scalar_type()));
        CHECK(got[i].sizes().vec() == expected.sizes().vec());
        CHECK(got[i].strides().vec() == expected.strides().vec());
        CHECK(same_values(got[i], srcs[i]));
        CHECK(!got[i].requires_grad());
        if (srcs[i].numel() > 0) CHECK(got[i].data_ptr() != srcs[i].data_ptr());
    }
}

std::uint32_t expected_crc(Checksum kind, const at::Tensor& t) {
    const at::Tensor c = t.contiguous();
    return tilecopy::test::bitwise_crc(kind, c.data_ptr(), c.nbytes());
}

tilecopy::Options snapshot_options_small_blocks() {
    tilecopy::Options o;
    o.threads = 2;
    o.block_bytes = 16 << 10;
    o.inline_threshold = 4096;
    return o;
}

} // namespace

TEST_CASE("a snapshot equals clone() of every tensor, in one fresh allocation") {
    CopyEngine engine(snapshot_options_small_blocks());
    const std::vector<at::Tensor> srcs = sources(1);
    const tilecopy::Snapshot s = tilecopy::snapshot(engine, srcs);
    check_equal_clones(s.tensors, srcs);
    CHECK(s.allocated_tensors == srcs.size());
    std::uint64_t bytes = 0;
    for (const at::Tensor& t : s.tensors) bytes += t.storage().nbytes();
    CHECK(s.allocated_bytes == bytes);
    CHECK(s.checksums.empty());

    tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, srcs);
    CHECK(h.allocated_tensors() == srcs.size());
    check_equal_clones(h.result(), srcs);
    CHECK(h.result()[0].is_same(h.result()[0])); // every call gives the same tensors
}

TEST_CASE("a snapshot into a previous one reuses every matching tensor and allocates only what changed") {
    CopyEngine engine(snapshot_options_small_blocks());
    std::vector<at::Tensor> srcs = sources(2);
    const tilecopy::Snapshot first = tilecopy::snapshot(engine, srcs);

    std::vector<at::Tensor> fresh = sources(3);
    for (std::size_t i = 0; i < srcs.size(); ++i) srcs[i].copy_(fresh[i]);
    const tilecopy::Snapshot again = tilecopy::snapshot(engine, srcs, {}, first.tensors);
    check_equal_clones(again.tensors, srcs);
    CHECK(again.allocated_tensors == 0);
    CHECK(again.allocated_bytes == 0);
    for (std::size_t i = 0; i < srcs.size(); ++i) CHECK(again.tensors[i].is_same(first.tensors[i]));

    // A new shape (0), a new dtype (3) and a tensor past the end of `into` (5) get new memory.
    srcs[0] = at::empty({65, 1000}, at::kFloat);
    srcs[3] = at::empty({}, at::kInt);
    for (std::size_t i : {0, 3}) tilecopy::test::fill_noise(srcs[i], 9 + std::uint32_t(i));
    std::vector<at::Tensor> into(first.tensors.begin(), first.tensors.end() - 1);
    tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, srcs, {}, into);
    CHECK(h.allocated_tensors() == 3);
    const std::vector<at::Tensor> third = h.result();
    check_equal_clones(third, srcs);
    for (std::size_t i : {1, 2, 4}) CHECK(third[i].is_same(first.tensors[i]));
    for (std::size_t i : {0, 3, 5}) CHECK(!third[i].is_same(first.tensors[i]));

    // A tensor of `into` with other strides (a transposed view) or requiring grad is not reused.
    std::vector<at::Tensor> odd = {first.tensors[0].t().contiguous().t(), first.tensors[1].detach().requires_grad_()};
    const tilecopy::Snapshot fourth = tilecopy::snapshot(engine, {first.tensors[0], srcs[1]}, {}, odd);
    CHECK(fourth.allocated_tensors == 2);
}

TEST_CASE("a snapshot refuses a tensor off the CPU by its index, or keeps it when told") {
    CopyEngine engine(snapshot_options_small_blocks());
    std::vector<at::Tensor> srcs = sources(4);
    srcs.insert(srcs.begin() + 2, at::empty({3}, at::TensorOptions().device(at::kMeta)));
    CHECK_THROWS_WITH_AS(tilecopy::snapshot(engine, srcs), doctest::Contains("tensor 2 of the snapshot's 7"),
                         tilecopy::Error);
    CHECK_THROWS_WITH_AS(tilecopy::snapshot_async(engine, srcs), doctest::Contains("is on meta"), tilecopy::Error);
    CHECK_THROWS_WITH_AS(tilecopy::snapshot(engine, {srcs[0], at::Tensor()}), doctest::Contains("tensor 1"),
                         tilecopy::Error);

    SnapshotOptions keep;
    keep.non_cpu = NonCpu::Keep;
    keep.checksum = Checksum::crc32c;
    const tilecopy::Snapshot s = tilecopy::snapshot(engine, srcs, keep);
    CHECK(s.tensors[2].is_same(srcs[2]));
    CHECK(s.checksums[2] == 0);
    CHECK(s.allocated_tensors == srcs.size() - 1);
    for (std::size_t i : {0, 1, 3, 4, 5, 6}) CHECK(same_values(s.tensors[i], srcs[i]));
    tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, srcs, keep);
    CHECK(h.result()[2].is_same(srcs[2]));
    CHECK(h.checksums()[2] == 0);
}

TEST_CASE("a snapshot's checksums are the CRCs of its tensors' bytes") {
    CopyEngine engine(snapshot_options_small_blocks());
    const std::vector<at::Tensor> srcs = sources(5);
    for (Checksum kind : {Checksum::crc32c, Checksum::crc32}) {
        SnapshotOptions o;
        o.checksum = kind;
        const tilecopy::Snapshot s = tilecopy::snapshot(engine, srcs, o);
        tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, srcs, o, s.tensors);
        const std::vector<std::uint32_t> async_sums = h.checksums();
        REQUIRE(s.checksums.size() == srcs.size());
        REQUIRE(async_sums.size() == srcs.size());
        for (std::size_t i = 0; i < srcs.size(); ++i) {
            CAPTURE(i);
            CHECK(s.checksums[i] == expected_crc(kind, srcs[i]));
            CHECK(async_sums[i] == expected_crc(kind, srcs[i]));
        }
    }
    tilecopy::SnapshotHandle plain = tilecopy::snapshot_async(engine, srcs);
    CHECK_THROWS_AS(plain.checksums(), tilecopy::Error);
}

TEST_CASE("a synchronous snapshot refuses limits, which only an asynchronous one takes") {
    CopyEngine engine(snapshot_options_small_blocks());
    SnapshotOptions o;
    o.limits.bytes_per_second = 1 << 20;
    CHECK_THROWS_WITH_AS(tilecopy::snapshot(engine, sources(6), o), doctest::Contains("never limited"),
                         tilecopy::Error);
    CHECK((SnapshotOptions().limits.priority == tilecopy::Priority::Background));
}

TEST_CASE("a snapshot cancelled while queued, running or after finishing") {
    CopyEngine engine(snapshot_options_small_blocks());
    const at::Tensor big = at::empty({1 << 18}, at::kFloat); // 1 MiB: a bulk (background-lane) copy
    tilecopy::test::fill_noise(big, 7);
    SnapshotOptions slow;
    slow.limits.bytes_per_second = 1; // its first block empties the bucket, the next waits for days

    SUBCASE("queued behind a background copy: nothing runs, nothing handed out") {
        const at::Tensor src = at::empty({1 << 20}, at::kFloat), dst = at::empty({1 << 20}, at::kFloat);
        tilecopy::AsyncOptions limits{0, 1, tilecopy::Priority::Background};
        tilecopy::CopyHandle blocker = engine.copy_async(dst, src, limits);
        tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, {big}, slow);
        h.cancel();
        CHECK(h.done());
        CHECK_THROWS_WITH_AS(h.result(), doctest::Contains("cancelled after 0 of 1048576 bytes"), tilecopy::Error);
        CHECK(h.copy().bytes_copied() == 0);
        CHECK(h.outcome()->tensors.empty());
        blocker.cancel();
        CHECK_THROWS_AS(blocker.wait(), tilecopy::Error);
    }
    SUBCASE("running: exact progress, the copy's references dropped") {
        // into's tensor is the caller's; once the caller drops it too, its memory goes.
        bool freed = false;
        auto* memory = static_cast<float*>(std::malloc(big.nbytes()));
        REQUIRE(memory != nullptr);
        at::Tensor previous = at::from_blob(memory, big.sizes(), [&freed](void* p) {
            std::free(p);
            freed = true;
        }, at::kFloat);
        const at::Tensor second = at::empty({1 << 16}, at::kFloat);
        tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, {big, second}, slow, {previous});
        CHECK(h.allocated_tensors() == 1);
        while (h.copy().bytes_copied() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        h.cancel();
        h.copy().wait_for(std::chrono::seconds(60));
        REQUIRE(h.done());
        const std::uint64_t copied = h.copy().bytes_copied();
        CHECK(copied > 0);
        CHECK(copied < h.copy().bytes_total());
        const std::string message = "cancelled after " + std::to_string(copied) + " of " +
                                    std::to_string(h.copy().bytes_total()) + " bytes";
        CHECK_THROWS_WITH_AS(h.result(), doctest::Contains(message.c_str()), tilecopy::Error);
        CHECK(h.outcome()->tensors.empty());
        CHECK(!freed);
        previous = at::Tensor();
        CHECK(freed);
    }
    SUBCASE("finished: cancel does nothing") {
        tilecopy::SnapshotHandle h = tilecopy::snapshot_async(engine, {big});
        h.wait();
        h.cancel();
        CHECK(same_values(h.result().front(), big));
        CHECK(h.copy().bytes_copied() == big.nbytes());
    }
}
