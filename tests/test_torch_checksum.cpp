// Tensor copies with a checksum: the destination equals copy_'s result and the checksum is the
// bitwise CRC of dst.contiguous()'s bytes, on every path (contiguous, strided, converted,
// fallback) and for strided destinations; refusals write and compute nothing.
#include <cstring>
#include <string>
#include <vector>

#include "torch_doctest.hpp"

#include "crc_reference.hpp"

using tilecopy::Checksum;
using tilecopy::CopyEngine;

namespace {

std::uint32_t expected(Checksum kind, const at::Tensor& t) {
    const at::Tensor c = t.resolve_conj().resolve_neg().contiguous();
    return tilecopy::test::bitwise_crc(kind, c.data_ptr(), c.nbytes());
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
    const at::Tensor x = a.contiguous(), y = b.contiguous();
    return x.nbytes() == y.nbytes() && (x.nbytes() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0);
}

// Copies of a few hundred KiB run as many blocks, each piece's CRC combined with the next.
tilecopy::Options small_blocks() {
    tilecopy::Options o;
    o.inline_threshold = 4096;
    o.block_bytes = 16 << 10;
    return o;
}

// copy(dst, src, kind) against dst's twin written by copy_.
void check_pair(CopyEngine& engine, const at::Tensor& dst, const at::Tensor& src, const at::Tensor& twin,
                const std::string& what) {
    twin.copy_(src);
    for (Checksum kind : {Checksum::crc32c, Checksum::crc32}) {
        dst.zero_();
        const std::uint32_t crc = engine.copy(dst, src, kind);
        CAPTURE(what);
        CAPTURE(tilecopy::checksum_name(kind));
        CHECK(same_bytes(dst, twin));
        CHECK(crc == expected(kind, twin));
        CHECK(engine.checksum(dst, kind) == crc);
    }
}

} // namespace

TEST_CASE("a tensor copy's checksum is the CRC of the destination's bytes in row-major order, on every path") {
    CopyEngine engine(small_blocks());
    const at::Tensor f = at::randn({300, 3000});
    {
        const at::Tensor dst = at::empty({300, 3000});
        check_pair(engine, dst, f, at::empty_like(dst), "contiguous float32");
    }
    {
        const at::Tensor dst = at::empty({300, 3000}, at::kBFloat16);
        check_pair(engine, dst, f, at::empty_like(dst), "float32 -> bfloat16, contiguous");
    }
    {
        const at::Tensor src = f.narrow(1, 7, 2000); // rows of 8000 bytes: strided runs, one pass
        const at::Tensor dst = at::empty({300, 2000});
        check_pair(engine, dst, src, at::empty_like(dst), "strided source, contiguous destination");
        const at::Tensor half = at::empty({300, 2000}, at::kHalf);
        check_pair(engine, half, src, at::empty_like(half), "strided source converted to float16");
    }
    {
        const at::Tensor big = at::zeros({300, 4000});
        const at::Tensor dst = big.narrow(1, 100, 3000); // strided destination, long runs
        const at::Tensor twin = at::zeros({300, 4000}).narrow(1, 100, 3000);
        check_pair(engine, dst, f, twin, "strided destination");
    }
    {
        const at::Tensor dst = at::empty({3000, 300}).t(); // transposed destination
        check_pair(engine, dst, f, at::empty({3000, 300}).t(), "transposed destination");
    }
    {
        const at::Tensor row = at::randn({3000});
        const at::Tensor dst = at::empty({300, 3000});
        check_pair(engine, dst, row.expand({300, 3000}), at::empty_like(dst), "broadcast source");
    }
    {
        const at::Tensor l = at::randint(0, 1000, {5000}, at::kLong);
        const at::Tensor dst = at::empty({5000}, at::kInt);
        check_pair(engine, dst, l, at::empty_like(dst), "int64 -> int32 (copy_'s path)");
    }
    {
        const at::Tensor dst = at::empty({0, 5});
        CHECK(engine.copy(dst, at::empty({0, 5}), Checksum::crc32c) == 0);
        CHECK(engine.checksum(dst, Checksum::crc32) == 0);
    }
}

TEST_CASE("a tensor's checksum follows its logical element order whatever its layout") {
    CopyEngine engine;
    const at::Tensor base = at::randn({64, 2048});
    const at::Tensor views[] = {
        base,
        base.narrow(1, 0, 1500),              // runs of 6000 bytes
        base.narrow(1, 3, 10),                // short runs: through contiguous()
        base.t(),                             // innermost dimension strided
        base.view({64, 2, 1024}).narrow(1, 1, 1).squeeze(1),
        base.narrow(0, 5, 1),                 // one row
        base[3][7],                           // 0-dim
        at::randn({40, 300}, at::kComplexFloat).conj(), // a conjugate view: resolved first
        at::randn({40, 3000}).to(at::kBFloat16).narrow(1, 500, 2500),
    };
    for (const at::Tensor& v : views) {
        for (Checksum kind : {Checksum::crc32c, Checksum::crc32}) {
            CAPTURE(v.sizes());
            CAPTURE(v.strides());
            CHECK(engine.checksum(v, kind) == expected(kind, v));
        }
    }
    CHECK_THROWS_AS(engine.checksum(at::Tensor(), Checksum::crc32c), tilecopy::Error);
    CHECK_THROWS_AS(engine.checksum(at::ones({3}).to_sparse(), Checksum::crc32c), tilecopy::Error);
}

TEST_CASE("a refused tensor copy with a checksum, or an unknown kind, writes nothing") {
    CopyEngine engine;
    const at::Tensor dst = at::full({100, 100}, 7.0f);
    const at::Tensor before = dst.clone();
    CHECK_THROWS_WITH_AS(engine.copy(dst, at::randn({100, 100}), static_cast<Checksum>(9)),
                         doctest::Contains("crc32c"), tilecopy::Error);
    CHECK_THROWS_AS(engine.copy(dst, at::randn({3, 7}), Checksum::crc32c), tilecopy::Error);
    CHECK(at::equal(dst, before));
}

namespace {

// Pairs on every route a batch takes: one pass (contiguous, converted), copied then summed
// (strided or transposed destinations, copy_'s path), empty and self-copied pairs.
struct BatchCase {
    std::vector<at::Tensor> dsts, srcs, twins;
};

BatchCase batch_case() {
    BatchCase c;
    auto add = [&c](const at::Tensor& dst, const at::Tensor& src, const at::Tensor& twin) {
        c.dsts.push_back(dst);
        c.srcs.push_back(src);
        c.twins.push_back(twin);
    };
    const at::Tensor f = at::randn({64, 1100}); // rows of 4400 bytes: runs the kernels take
    add(at::empty({64, 1100}), f, at::empty({64, 1100}));
    add(at::empty({64, 1100}, at::kBFloat16), f, at::empty({64, 1100}, at::kBFloat16));
    add(at::zeros({64, 1300}).narrow(1, 150, 1100), f, at::zeros({64, 1300}).narrow(1, 150, 1100));
    add(at::empty({1100, 64}).t(), f, at::empty({1100, 64}).t());
    add(at::empty({7}), at::randn({7}), at::empty({7})); // a run shorter than min_run_bytes: copy_'s path
    add(at::empty({0, 9}), at::empty({0, 9}), at::empty({0, 9}));
    add(at::empty({4000}, at::kInt), at::randint(0, 99, {4000}, at::kLong), at::empty({4000}, at::kInt));
    const at::Tensor self = at::randn({3000});
    add(self, self, self.clone());
    return c;
}

void check_batch(const BatchCase& c, const std::vector<std::uint32_t>& crcs, Checksum kind) {
    REQUIRE(crcs.size() == c.dsts.size());
    for (std::size_t i = 0; i < c.dsts.size(); ++i) {
        CAPTURE(i);
        CHECK(same_bytes(c.dsts[i], c.twins[i]));
        CHECK(crcs[i] == expected(kind, c.twins[i]));
    }
    CHECK(crcs[5] == 0); // the empty pair
}

} // namespace

TEST_CASE("a tensor batch with a checksum gives one per pair, synchronous or not") {
    CopyEngine engine(small_blocks());
    BatchCase c = batch_case();
    for (std::size_t i = 0; i < c.dsts.size(); ++i)
        if (!c.twins[i].is_same(c.dsts[i])) c.twins[i].copy_(c.srcs[i]);
    for (Checksum kind : {Checksum::crc32c, Checksum::crc32}) {
        CAPTURE(tilecopy::checksum_name(kind));
        auto clear = [&c] {
            for (std::size_t i = 0; i + 1 < c.dsts.size(); ++i) c.dsts[i].zero_(); // the self-copy keeps its values
        };
        clear();
        check_batch(c, engine.copy_batch(c.dsts, c.srcs, kind), kind);
        clear();
        tilecopy::CopyHandle h = engine.copy_batch_async(c.dsts, c.srcs, kind);
        check_batch(c, h.checksums(), kind);
        CHECK(h.checksums() == h.checksums()); // every call gives them again
        CHECK_THROWS_WITH_AS(h.checksum(), doctest::Contains("checksums()"), tilecopy::Error);
        for (std::size_t i : {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(5)}) {
            CAPTURE(i);
            c.dsts[i].zero_();
            CHECK(engine.copy_async(c.dsts[i], c.srcs[i], kind).checksum() == expected(kind, c.twins[i]));
            CHECK(same_bytes(c.dsts[i], c.twins[i]));
        }
    }
    CHECK(engine.copy_batch(c.dsts, c.srcs, Checksum::none) == std::vector<std::uint32_t>(c.dsts.size(), 0));
    CHECK_THROWS_WITH_AS(engine.copy_async(c.dsts[0], c.srcs[0]).checksum(), doctest::Contains("without a checksum"),
                         tilecopy::Error);
}

TEST_CASE("a refused tensor batch with a checksum computes and writes nothing") {
    CopyEngine engine;
    const std::vector<at::Tensor> dsts = {at::full({64, 1024}, 3.0f), at::full({100}, 3.0f)};
    const std::vector<at::Tensor> good = {at::randn({64, 1024}), at::randn({100})};
    const std::vector<at::Tensor> bad = {good[0], at::randn({7, 3})};
    CHECK_THROWS_WITH_AS(engine.copy_batch(dsts, bad, Checksum::crc32c), doctest::Contains("pair 1"), tilecopy::Error);
    CHECK_THROWS_WITH_AS(engine.copy_batch_async(dsts, bad, Checksum::crc32), doctest::Contains("pair 1"),
                         tilecopy::Error);
    CHECK_THROWS_AS(engine.copy_batch(dsts, good, static_cast<Checksum>(7)), tilecopy::Error);
    CHECK_THROWS_AS(engine.copy_async(dsts[0], good[0], static_cast<Checksum>(7)), tilecopy::Error);
    const std::vector<at::Tensor> shared = {dsts[0], dsts[0].narrow(0, 0, 1).view({1024})}; // destinations overlap
    CHECK_THROWS_AS(engine.copy_batch(shared, {good[0], good[0].narrow(0, 0, 1).view({1024})}, Checksum::crc32c),
                    tilecopy::Error);
    for (const at::Tensor& d : dsts) CHECK(at::all(d == 3.0f).item<bool>());
}
