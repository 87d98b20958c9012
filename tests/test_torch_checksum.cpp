// Tensor copies with a checksum: the destination equals copy_'s result and the checksum is the
// bitwise CRC of dst.contiguous()'s bytes, on every path (contiguous, strided, converted,
// fallback) and for strided destinations; refusals write and compute nothing.
#include <cstring>
#include <string>

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
    return x.nbytes() == y.nbytes() && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
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
    tilecopy::Options o;
    o.inline_threshold = 4096;
    o.block_bytes = 16 << 10;
    CopyEngine engine(o);
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
