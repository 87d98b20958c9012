// Asynchronous and batched tensor copies against torch's copy_, pair by pair: every pair of a
// mixed batch (contiguous, strided, converted, fallback, empty) is copied by copy_ into one set
// of tensors and by the engine into an identical set, and the whole backing storages, the
// version counters and the paths counted must agree. Rejections must leave every tensor of the
// batch as it was.
#include <ATen/FunctionalTensorWrapper.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "torch_doctest.hpp"

using tilecopy::TensorPath;
using namespace tilecopy::test;

namespace {

std::array<std::uint64_t, 4> expected_counts(const std::vector<Spec>& specs, const Batch& b) {
    std::array<std::uint64_t, 4> counts{};
    for (std::size_t i = 0; i < specs.size(); ++i)
        if (auto path = expected_path(b.dsts[i], b.srcs[i], specs[i].run)) ++counts[static_cast<std::size_t>(*path)];
    return counts;
}

std::array<std::uint64_t, 4> minus(std::array<std::uint64_t, 4> a, const std::array<std::uint64_t, 4>& b) {
    for (std::size_t i = 0; i < 4; ++i) a[i] -= b[i];
    return a;
}

// copy_ pair by pair on one batch, `copy` on an identical one: every byte, version and count agrees.
void expect_batch_like_copy_(tilecopy::CopyEngine& engine, const std::vector<Spec>& specs,
                             const std::function<void(const Batch&)>& copy, const std::string& what) {
    CAPTURE(what);
    const Batch ref = make_batch(specs, 100);
    const Batch ours = make_batch(specs, 100);
    REQUIRE(all_bytes(ref) == all_bytes(ours));
    for (std::size_t i = 0; i < specs.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
    const auto before = path_counts(engine);
    copy(ours);
    const auto counted = minus(path_counts(engine), before);
    const auto ref_bytes = all_bytes(ref), our_bytes = all_bytes(ours);
    for (std::size_t i = 0; i < ref_bytes.size(); ++i) {
        CAPTURE(i); // destinations first, then sources
        CHECK(ref_bytes[i] == our_bytes[i]);
    }
    for (std::size_t i = 0; i < specs.size(); ++i) CHECK(ref.dsts[i]._version() == ours.dsts[i]._version());
    CHECK(counted == expected_counts(specs, ours));
    CHECK(counted[static_cast<std::size_t>(TensorPath::Contiguous)] >= 3); // the fast paths were taken
    CHECK(counted[static_cast<std::size_t>(TensorPath::Strided)] >= 3);
}

tilecopy::Options small_inline_threshold() {
    tilecopy::Options options;
    options.inline_threshold = 64 << 10; // the large pairs run as blocks on the arenas
    return options;
}

} // namespace

TEST_CASE("a mixed batch matches copy_ pair by pair, synchronous or not, on the documented paths") {
    tilecopy::CopyEngine engine(small_inline_threshold());
    const auto specs = mixed_specs();
    expect_batch_like_copy_(engine, specs, [&](const Batch& b) { engine.copy_batch(b.dsts, b.srcs); }, "copy_batch");
    expect_batch_like_copy_(engine, specs, [&](const Batch& b) { engine.copy_batch_async(b.dsts, b.srcs).wait(); },
                            "copy_batch_async");
    expect_batch_like_copy_(engine, specs, [&](const Batch& b) {
        std::vector<tilecopy::CopyHandle> handles;
        for (std::size_t i = 0; i < b.dsts.size(); ++i) handles.push_back(engine.copy_async(b.dsts[i], b.srcs[i]));
        for (auto& h : handles) h.wait();
    }, "copy_async per pair");
}

TEST_CASE("ten thousand small pairs run as one schedule and match copy_") {
    tilecopy::CopyEngine engine(small_inline_threshold());
    const std::vector<Spec> specs(10000, Spec{Layout::Contiguous, Layout::Contiguous, at::kFloat, at::kFloat, {256}, 256});
    const Batch ref = make_batch(specs, 7), ours = make_batch(specs, 7);
    for (std::size_t i = 0; i < specs.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
    const auto before = engine.stats();
    engine.copy_batch(ours.dsts, ours.srcs);
    const auto after = engine.stats();
    CHECK(after.parallel_copies == before.parallel_copies + 1);
    CHECK(after.tensor_contiguous == before.tensor_contiguous + 10000);
    CHECK(all_bytes(ref) == all_bytes(ours));
}

TEST_CASE("an asynchronous batch's progress rises to its total and done() turns true") {
    tilecopy::CopyEngine engine;
    const std::int64_t n = (std::int64_t(4) << 20) / std::int64_t(kSanitizedDivisor); // 16 MiB of float32 (sanitized: 4)
    std::vector<Spec> specs(16, Spec{Layout::Contiguous, Layout::Contiguous, at::kFloat, at::kFloat, {n}, n});
    specs.push_back({Layout::Transposed, Layout::Contiguous, at::kFloat, at::kFloat, {512, 512}, 0}); // copy_
    specs.push_back({Layout::Contiguous, Layout::Contiguous, at::kBFloat16, at::kFloat, {1 << 20}, 1 << 20});
    specs.push_back({Layout::Contiguous, Layout::Contiguous, at::kFloat, at::kFloat, {0}, 0});
    const Batch b = make_batch(specs, 3);
    std::uint64_t total = 0;
    for (const at::Tensor& d : b.dsts) total += d.nbytes();
    tilecopy::CopyHandle h = engine.copy_batch_async(b.dsts, b.srcs);
    CHECK(h.bytes_total() == total);
    std::uint64_t last = 0;
    bool monotonic = true;
    while (!h.done()) {
        const std::uint64_t now = h.bytes_copied();
        monotonic = monotonic && now >= last && now <= total;
        last = now;
        std::this_thread::yield(); // the copy's threads need the cores more than the watcher
    }
    h.wait();
    CHECK(monotonic);
    CHECK(h.bytes_copied() == total);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        at::Tensor expected = spec_pair(specs[i], 3 + 2 * static_cast<std::uint32_t>(i)).dst;
        expected.copy_(b.srcs[i]);
        CHECK(storage_bytes(expected) == storage_bytes(b.dsts[i]));
    }
}
TEST_CASE("an invalid pair anywhere in a batch is refused, naming it, and nothing of the batch is written") {
    tilecopy::CopyEngine engine(small_inline_threshold());
    std::vector<Spec> specs;
    for (int r = 0; r < 4; ++r)
        for (const Spec& s : mixed_specs()) specs.push_back(s);
    const auto f = [](Shape s) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, 3); };
    struct Fault {
        const char* keyword;
        std::function<Pair()> make;
    };
    // copy_'s words; the batch adds the pair's index after them.
    const std::vector<Fault> faults = {
        {"undefined Tensor in C++) for argument #0 'self'", [&] { return Pair{at::Tensor(), f({3})}; }},
        {"undefined Tensor in C++) for argument #1 'src'", [&] { return Pair{f({3}), at::Tensor()}; }},
        {"The size of tensor a (3) must match the size of tensor b (4)", [&] { return Pair{f({2, 3}), f({4})}; }},
        {"more than one element of the written-to tensor refers to a single memory location",
         [&] { return Pair{f({1, 64}).expand({4, 64}), f({4, 64})}; }},
        {"some elements of the input tensor and the written-to tensor refer to a single memory location",
         [&] { auto b = f({100}); return Pair{b.narrow(0, 0, 60), b.narrow(0, 20, 60)}; }},
        {"a leaf Variable that requires grad is being used in an in-place operation.",
         [&] { return Pair{f({8}).requires_grad_(), f({8})}; }},
        {"a view of a leaf Variable that requires grad", [&] { return Pair{f({8}).requires_grad_().narrow(0, 0, 4), f({4})}; }},
        {"Inplace update to inference tensor outside InferenceMode", [&] {
             at::Tensor inference;
             {
                 c10::InferenceMode guard;
                 inference = f({256});
             }
             return Pair{inference, f({256})};
         }},
        {"between dense and sparse Tensors", [&] { return Pair{f({3}), f({3}).to_sparse()}; }},
        {"Copying from quantized Tensor to non-quantized Tensor",
         [&] { return Pair{f({3}), at::quantize_per_tensor(f({3}).nan_to_num(), 0.1, 0, at::kQUInt8)}; }},
        {"ZeroTensors are immutable", [&] { return Pair{at::_efficientzerotensor({3}), f({3})}; }},
    };
    // One batch for every fault: nothing of it may be written, which each round checks, so the
    // next round starts from the same bytes.
    const Batch good = make_batch(specs, 40);
    const auto good_before = all_bytes(good);
    for (const Fault& fault : faults)
        for (bool async : {false, true}) {
            CAPTURE(fault.keyword);
            CAPTURE(async);
            Batch b = good;
            const Pair bad = fault.make();
            b.dsts[57] = bad.dst;
            b.srcs[57] = bad.src;
            const Batch bad_pair{{bad.dst}, {bad.src}};
            const auto bad_before = all_bytes(bad_pair);
            const auto paths_before = path_counts(engine);
            std::string message;
            try {
                if (async)
                    engine.copy_batch_async(b.dsts, b.srcs).wait();
                else
                    engine.copy_batch(b.dsts, b.srcs);
            } catch (const tilecopy::Error& e) {
                message = e.what();
            }
            CHECK_MESSAGE(message.find(" (pair 57 of the batch)") != std::string::npos, "message: " << message);
            CHECK_MESSAGE(message.find(fault.keyword) != std::string::npos, "message: " << message);
            CHECK(same_bytes(good, good_before)); // pair 57 of `good` is not in `b`: its bytes stay too
            CHECK(same_bytes(bad_pair, bad_before));
            CHECK(path_counts(engine) == paths_before);
        }
}

TEST_CASE("a batch with fewer sources than destinations is refused with both counts named") {
    tilecopy::CopyEngine engine;
    const Batch b = make_batch(mixed_specs(), 5);
    const std::vector<at::Tensor> fewer(b.srcs.begin(), b.srcs.end() - 1);
    const std::string counts = std::to_string(b.dsts.size()) + " destinations and " + std::to_string(fewer.size()) + " sources";
    CHECK_THROWS_WITH_AS(engine.copy_batch(b.dsts, fewer), doctest::Contains(counts.c_str()), tilecopy::Error);
    CHECK_THROWS_WITH_AS(engine.copy_batch_async(b.dsts, fewer), doctest::Contains(counts.c_str()), tilecopy::Error);
}

TEST_CASE("pairs that share memory across a batch are refused with both named, nothing written") {
    tilecopy::CopyEngine engine;
    const auto f = [](Shape s, std::uint32_t seed) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); };
    const at::Tensor matrix = f({64, 4096}, 1);
    struct Case {
        std::vector<Pair> pairs;
        const char* expected;
    };
    const std::vector<Case> cases = {
        {{{f({4096}, 2), f({4096}, 3)}, {matrix, f({64, 4096}, 4)}, {matrix, f({64, 4096}, 5)}}, "pairs 1 and 2"},
        {{{matrix.narrow(1, 0, 3000), f({64, 3000}, 6)}, {matrix.narrow(1, 2000, 2000), f({64, 2000}, 7)}},
         "pairs 0 and 1: the destination of pair 0"},
        {{{f({64}, 8), f({64}, 9)}, {f({64, 4096}, 10), matrix}, {matrix[3], f({4096}, 11)}},
         "pairs 1 and 2: the source of pair 1"},
        {{{matrix.slice(1, 0, 4096, 2), f({64, 2048}, 12)}, {matrix.slice(1, 2, 4096, 2), f({64, 2047}, 13)}},
         "pairs 0 and 1"}, // every other column from 0 and from 2, on torch's path: 2046 columns shared
    };
    for (const Case& c : cases) {
        CAPTURE(c.expected);
        Batch b;
        for (const Pair& p : c.pairs) {
            b.dsts.push_back(p.dst);
            b.srcs.push_back(p.src);
        }
        const auto before = all_bytes(b);
        CHECK_THROWS_WITH_AS(engine.copy_batch(b.dsts, b.srcs), doctest::Contains(c.expected), tilecopy::Error);
        CHECK_THROWS_WITH_AS(engine.copy_batch_async(b.dsts, b.srcs), doctest::Contains("share memory"), tilecopy::Error);
        CHECK(all_bytes(b) == before);
    }
}

TEST_CASE("disjoint views of one tensor may be destinations of one batch, even when their spans interleave") {
    tilecopy::CopyEngine engine;
    for (bool columns : {false, true}) {
        CAPTURE(columns);
        const auto make = [&] {
            const at::Tensor matrix = make_tensor(Layout::Contiguous, at::kFloat, {64, 4096}, Fill::Noise, 1);
            Batch b;
            for (std::int64_t k = 0; k < 4; ++k) {
                b.dsts.push_back(columns ? matrix.narrow(1, 1024 * k, 1024) : matrix.narrow(0, 16 * k, 16));
                b.srcs.push_back(make_tensor(Layout::Contiguous, at::kFloat, columns ? Shape{64, 1024} : Shape{16, 4096},
                                             Fill::Values, 10 + static_cast<std::uint32_t>(k)));
            }
            return b;
        };
        const Batch ref = make(), ours = make();
        for (std::size_t i = 0; i < ref.dsts.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
        const auto before = engine.stats();
        engine.copy_batch(ours.dsts, ours.srcs);
        CHECK(all_bytes(ref) == all_bytes(ours));
        CHECK(engine.stats().tensor_fallback == before.tensor_fallback);
    }
}

TEST_CASE("whether a batch shares memory depends only on the element sets, not on the path each pair takes") {
    tilecopy::CopyEngine engine;
    // Column blocks of one matrix: 16 and 512 columns go to copy_ (runs under 4 KiB), 1024 to the
    // kernels; interleaved columns (every other one, from 0 and from 1) never share an element.
    for (std::int64_t width : {1, 16, 512, 1000, 1024}) {
        for (bool interleaved : {false, true}) {
            CAPTURE(width);
            CAPTURE(interleaved);
            const std::int64_t blocks = interleaved ? 2 : 4;
            const auto make = [&] {
                const at::Tensor matrix = make_tensor(Layout::Contiguous, at::kFloat, {64, 4 * width}, Fill::Noise, 1);
                Batch b;
                for (std::int64_t k = 0; k < blocks; ++k) {
                    b.dsts.push_back(interleaved ? matrix.slice(1, k, 4 * width, 2) : matrix.narrow(1, width * k, width));
                    b.srcs.push_back(make_tensor(Layout::Contiguous, at::kFloat, {64, interleaved ? 2 * width : width},
                                                 Fill::Values, 10 + static_cast<std::uint32_t>(k)));
                }
                return b;
            };
            const Batch ref = make(), ours = make();
            for (std::size_t i = 0; i < ref.dsts.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
            CHECK_NOTHROW(engine.copy_batch(ours.dsts, ours.srcs));
            CHECK(all_bytes(ref) == all_bytes(ours));
            // The same blocks as sources of one batch, each written elsewhere, and one block both
            // written and read (by different pairs): accepted, then refused.
            const at::Tensor m = make_tensor(Layout::Contiguous, at::kFloat, {64, 4 * width}, Fill::Values, 2);
            const std::vector<at::Tensor> outs = {make_tensor(Layout::Contiguous, at::kFloat, {64, width}, Fill::Noise, 3),
                                                  make_tensor(Layout::Contiguous, at::kFloat, {64, width}, Fill::Noise, 4)};
            CHECK_NOTHROW(engine.copy_batch(outs, {m.narrow(1, 0, width), m.narrow(1, width, width)}));
            CHECK_THROWS_WITH_AS(engine.copy_batch({m.narrow(1, 0, width), outs[0]}, {outs[1], m.narrow(1, 0, width)}),
                                 doctest::Contains("share memory"), tilecopy::Error);
        }
    }
}

TEST_CASE("interleaved tensors with more runs than the batch check compares are refused, nothing written") {
    tilecopy::CopyEngine engine;
    const at::Tensor matrix = make_tensor(Layout::Contiguous, at::kFloat, {2048, 2048}, Fill::Noise, 1);
    // Strides 2 and 3 elements: no common period sets them apart, so their runs would be compared.
    const std::vector<at::Tensor> dsts = {matrix.slice(1, 0, 2048, 2), matrix.as_strided({2048, 682}, {2048, 3}, 1)};
    const std::vector<at::Tensor> srcs = {make_tensor(Layout::Contiguous, at::kFloat, {2048, 1024}, Fill::Values, 2),
                                          make_tensor(Layout::Contiguous, at::kFloat, {2048, 682}, Fill::Values, 3)};
    const auto before = storage_bytes(matrix);
    CHECK_THROWS_WITH_AS(engine.copy_batch(dsts, srcs), doctest::Contains("copy them in separate batches"), tilecopy::Error);
    CHECK(storage_bytes(matrix) == before);
}

TEST_CASE("interleaved views set apart by their strides are accepted whatever their runs, and match copy_") {
    tilecopy::CopyEngine engine;
    // Every column of a matrix, every other column of a larger one (2^21 elements each, as many
    // runs as the batch check compares), channels of an interleaved image.
    struct Case {
        const char* what;
        std::function<Batch()> make;
    };
    const auto sources = [](Batch& b) {
        for (std::size_t i = 0; i < b.dsts.size(); ++i)
            b.srcs.push_back(make_tensor(Layout::Contiguous, at::kFloat, b.dsts[i].sizes().vec(), Fill::Values,
                                         20 + static_cast<std::uint32_t>(i)));
    };
    const std::vector<Case> cases = {
        {"100 columns", [&] {
             const at::Tensor m = make_tensor(Layout::Contiguous, at::kFloat, {1000, 128}, Fill::Noise, 1);
             Batch b;
             for (std::int64_t j = 0; j < 100; ++j) b.dsts.push_back(m.select(1, j));
             sources(b);
             return b;
         }},
        {"every other column", [&] {
             const at::Tensor m = make_tensor(Layout::Contiguous, at::kFloat, {2048, 2048}, Fill::Noise, 1);
             Batch b;
             b.dsts = {m.slice(1, 0, 2048, 2), m.slice(1, 1, 2048, 2)};
             sources(b);
             return b;
         }},
        {"channel pairs of an RGBA image", [&] {
             const at::Tensor m = make_tensor(Layout::Contiguous, at::kFloat, {64, 64, 4}, Fill::Noise, 1);
             Batch b;
             b.dsts = {m.narrow(2, 0, 2), m.narrow(2, 2, 1), m.narrow(2, 3, 1)};
             sources(b);
             return b;
         }},
    };
    for (const Case& c : cases) {
        const std::string what = c.what;
        CAPTURE(what);
        const Batch ref = c.make(), ours = c.make();
        for (std::size_t i = 0; i < ref.dsts.size(); ++i) ref.dsts[i].copy_(ref.srcs[i]);
        CHECK_NOTHROW(engine.copy_batch(ours.dsts, ours.srcs));
        CHECK(all_bytes(ref) == all_bytes(ours));
    }
}

TEST_CASE("interleaved views whose offsets modulo their stride meet are compared element by element") {
    tilecopy::CopyEngine engine;
    const at::Tensor m = make_tensor(Layout::Contiguous, at::kFloat, {1000, 128}, Fill::Noise, 1);
    const auto src = [](Shape s, std::uint32_t seed) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); };
    const auto before = storage_bytes(m);
    // Columns 0-1 and column 1 share every row's element; columns 0-1 and 2 share none.
    CHECK_THROWS_WITH_AS(engine.copy_batch({m.narrow(1, 0, 2), m.select(1, 1)}, {src({1000, 2}, 2), src({1000}, 3)}),
                         doctest::Contains("share memory"), tilecopy::Error);
    CHECK(storage_bytes(m) == before);
    // Rows 0, 2, 4... and a view with stride 3 rows that meets them at rows 0, 6, 12...
    CHECK_THROWS_WITH_AS(engine.copy_batch({m.slice(0, 0, 1000, 2), m.slice(0, 0, 1000, 3)},
                                           {src({500, 128}, 4), src({334, 128}, 5)}),
                         doctest::Contains("share memory"), tilecopy::Error);
    CHECK(storage_bytes(m) == before);
    const at::Tensor ref = m.clone(), ours = m.clone();
    ref.narrow(1, 0, 2).copy_(src({1000, 2}, 2));
    ref.select(1, 2).copy_(src({1000}, 3));
    engine.copy_batch({ours.narrow(1, 0, 2), ours.select(1, 2)}, {src({1000, 2}, 2), src({1000}, 3)});
    CHECK(storage_bytes(ref) == storage_bytes(ours));
}

TEST_CASE("a self-copy pair leaves a batch free of order: accepted, the result is copy_'s in order") {
    tilecopy::CopyEngine engine;
    for (bool self_first : {true, false}) {
        CAPTURE(self_first);
        const auto run = [&](bool by_torch) {
            const at::Tensor base = make_tensor(Layout::Contiguous, at::kFloat, {20}, Fill::Noise, 1);
            const at::Tensor ones = make_tensor(Layout::Contiguous, at::kFloat, {10}, Fill::Values, 2);
            std::vector<at::Tensor> dsts = {base.slice(0, 0, 20, 2), base.narrow(0, 0, 10)};
            std::vector<at::Tensor> srcs = {base.slice(0, 0, 20, 2), ones};
            if (!self_first) {
                std::swap(dsts[0], dsts[1]);
                std::swap(srcs[0], srcs[1]);
            }
            if (by_torch)
                for (std::size_t i = 0; i < dsts.size(); ++i) dsts[i].copy_(srcs[i]);
            else
                engine.copy_batch(dsts, srcs);
            return std::make_pair(storage_bytes(base), dsts[0]._version() + dsts[1]._version());
        };
        CHECK(run(false) == run(true));
    }
}

namespace {

// A pair for an atomic-batch test: what copy_ says of it alone, and the bytes and version of its
// destination that must stay as they were when the batch is refused.
struct Member {
    const char* what;
    std::function<Pair()> make;
};

std::vector<unsigned char> readable(const at::Tensor& t) {
    if (t.is_quantized()) return storage_bytes(t.int_repr());
    if (t.is_sparse()) return storage_bytes(t._values());
    if (t.key_set().has(c10::DispatchKey::Functionalize)) {
        at::functionalization::impl::sync(t);
        return storage_bytes(at::functionalization::impl::from_functional_tensor(t).contiguous());
    }
    return storage_bytes(t);
}

// A batch of members, and what copy_ says of each one it refuses alone (as the batch names it).
struct Built {
    std::vector<at::Tensor> dsts, srcs;
    std::vector<std::string> messages;
};

Built build(const std::vector<const Member*>& members) {
    Built b;
    for (std::size_t i = 0; i < members.size(); ++i) {
        const Pair p = members[i]->make();
        b.dsts.push_back(p.dst);
        b.srcs.push_back(p.src);
        const Pair alone = members[i]->make();
        try {
            alone.dst.copy_(alone.src);
        } catch (const c10::Error& e) {
            b.messages.push_back(std::string(e.what_without_backtrace()) + " (pair " + std::to_string(i) + " of the batch)");
        }
    }
    return b;
}

// The message of the batch's refusal, or "" when it is carried out.
std::string batch_refusal(tilecopy::CopyEngine& engine, const std::vector<at::Tensor>& dsts,
                          const std::vector<at::Tensor>& srcs, bool async) {
    try {
        if (async)
            engine.copy_batch_async(dsts, srcs).wait();
        else
            engine.copy_batch(dsts, srcs);
    } catch (const tilecopy::Error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("a batch with refusable pairs in any order writes nothing when one is refused") {
    tilecopy::CopyEngine engine;
    const auto f = [](Shape s, std::uint32_t seed) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); };
    const std::vector<Member> accepted = {
        {"non-leaf requiring grad (copy_ records history)", [&] { return Pair{f({64}, 1).requires_grad_() * 2, f({64}, 2)}; }},
        {"functionalization wrapper", [&] { return Pair{at::functionalization::impl::to_functional_tensor(f({64}, 3)), f({64}, 4)}; }},
        {"quantized destination", [&] {
             return Pair{at::quantize_per_tensor(f({64}, 5).nan_to_num(), 0.1, 0, at::kQUInt8), f({64}, 6).nan_to_num()};
         }},
        {"conjugate view source", [&] {
             return Pair{make_tensor(Layout::Contiguous, at::kComplexFloat, {64}, Fill::Values, 7),
                         make_tensor(Layout::Contiguous, at::kComplexFloat, {64}, Fill::Values, 8).conj()};
         }},
        {"plain pair", [&] { return Pair{make_tensor(Layout::Contiguous, at::kFloat, {4096}, Fill::Noise, 9), f({4096}, 10)}; }},
    };
    const std::vector<Member> refused = {
        {"view of a leaf requiring grad", [&] { return Pair{f({8}, 11).requires_grad_().narrow(0, 0, 4), f({4}, 12)}; }},
        {"sparse source", [&] { return Pair{f({3}, 13), f({3}, 14).to_sparse()}; }},
        {"meta source", [&] { return Pair{f({3}, 15), at::empty({3}, at::TensorOptions().device(at::kMeta))}; }},
        {"mkldnn source", [&] { return Pair{f({3}, 16), f({3}, 17).nan_to_num().to_mkldnn()}; }},
        {"bad shape", [&] { return Pair{f({2, 3}, 18), f({4}, 19)}; }},
    };
    // Orders: the refused pair(s) last, first, between; two refused pairs around the others.
    for (std::size_t r = 0; r < refused.size(); ++r)
        for (int order = 0; order < 4; ++order) {
            std::vector<const Member*> members;
            for (const Member& a : accepted) members.push_back(&a);
            if (order == 0) members.push_back(&refused[r]);
            if (order == 1) members.insert(members.begin(), &refused[r]);
            if (order == 2) members.insert(members.begin() + 2, &refused[r]);
            if (order == 3) {
                members.insert(members.begin() + 1, &refused[r]);
                members.push_back(&refused[(r + 1) % refused.size()]);
            }
            std::string names;
            for (std::size_t i = 0; i < members.size(); ++i) names += std::string(i ? ", " : "") + members[i]->what;
            const auto [dsts, srcs, messages] = build(members);
            CAPTURE(names);
            REQUIRE(!messages.empty());
            std::vector<std::vector<unsigned char>> before;
            std::vector<std::int64_t> versions;
            for (const at::Tensor& d : dsts) {
                before.push_back(readable(d));
                versions.push_back(d.is_quantized() || d.key_set().has(c10::DispatchKey::Functionalize) ? -1 : d._version());
            }
            for (bool async : {false, true}) {
                CAPTURE(async);
                const std::string message = batch_refusal(engine, dsts, srcs, async);
                CHECK_MESSAGE(std::find(messages.begin(), messages.end(), message) != messages.end(), "message: " << message);
                for (std::size_t i = 0; i < dsts.size(); ++i) {
                    CAPTURE(i);
                    CHECK(readable(dsts[i]) == before[i]);
                    if (versions[i] >= 0) CHECK(dsts[i]._version() == versions[i]);
                }
            }
        }
}

TEST_CASE("a batch is decided against each real destination: inference, expanded and conjugate ones") {
    tilecopy::CopyEngine engine;
    const auto complex = [](std::uint32_t seed) {
        return make_tensor(Layout::Contiguous, at::kComplexFloat, {4}, Fill::Values, seed);
    };
    const auto f = [](Shape s, std::uint32_t seed) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); };
    const std::vector<Member> accepted = {
        {"conjugate view source", [&] { return Pair{complex(1), complex(2).conj()}; }},
        {"sparse destination", [&] { return Pair{f({4}, 3).to_sparse(), f({4}, 4).to_sparse()}; }},
        {"plain pair", [&] { return Pair{f({64}, 5), f({64}, 6)}; }},
    };
    const std::vector<Member> refused = {
        {"conjugate inference destination", [&] {
             at::Tensor inference;
             {
                 c10::InferenceMode guard;
                 inference = complex(7).conj();
             }
             return Pair{inference, complex(8)};
         }},
        {"expanded destination, conjugate source", [&] {
             return Pair{make_tensor(Layout::Contiguous, at::kComplexFloat, {1, 4}, Fill::Values, 9).expand({3, 4}),
                         make_tensor(Layout::Contiguous, at::kComplexFloat, {3, 4}, Fill::Values, 10).conj()};
         }},
        {"expanded destination, sparse source", [&] {
             return Pair{f({1, 4}, 11).expand({3, 4}), f({3, 4}, 12).to_sparse()};
         }},
        {"conjugate destination, source of another shape", [&] { return Pair{complex(13).conj(), complex(14).reshape({2, 2})}; }},
    };
    for (const Member& bad : refused)
        for (std::size_t at_index = 0; at_index <= accepted.size(); ++at_index) {
            std::vector<const Member*> members;
            for (const Member& a : accepted) members.push_back(&a);
            members.insert(members.begin() + static_cast<std::ptrdiff_t>(at_index), &bad);
            const auto [dsts, srcs, messages] = build(members);
            const std::string name = bad.what;
            CAPTURE(name);
            CAPTURE(at_index);
            REQUIRE(messages.size() == 1);
            std::vector<std::vector<unsigned char>> before;
            for (const at::Tensor& d : dsts) before.push_back(readable(d));
            for (bool async : {false, true}) {
                CAPTURE(async);
                const std::string message = batch_refusal(engine, dsts, srcs, async);
                CHECK(message == messages.front());
                for (std::size_t i = 0; i < dsts.size(); ++i) {
                    CAPTURE(i);
                    CHECK(readable(dsts[i]) == before[i]);
                }
            }
        }
}
