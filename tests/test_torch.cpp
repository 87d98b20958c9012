// The torch adapter against its specification, torch's own CPU Tensor::copy_: every case runs
// copy_ on one destination and CopyEngine::copy on an identical twin, then compares the whole
// backing storages byte for byte (the bytes around each view act as canaries), the version
// counters, and which path the engine counted, so a silent fallback cannot pass as speed.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "torch_doctest.hpp"

#include <c10/util/Logging.h>

#include <tilecopy/torch.hpp>

using tilecopy::TensorPath;
using namespace tilecopy::test;

namespace {

// Every c10::Error symbolizes a backtrace when it is made (dladdr on each frame: ~1.7 ms), and
// the refusal tests make tens of thousands of them (copy_ as the oracle and the engine alike).
// The tests compare what_without_backtrace() (the message Python shows), which no backtrace
// enters; a marker in place of the frames keeps a message that included them from matching.
const bool kCheapTorchBacktraces = [] {
    c10::SetStackTraceFetcher([] { return std::string("(backtrace not collected by the tests)"); });
    return true;
}();

// Runs copy_ on make()'s pair and engine.copy on a second make(); both must agree on every
// storage byte, the version and requires_grad, and the engine must count `expected` (nullopt:
// no path).
void expect_like_copy_(tilecopy::CopyEngine& engine, const std::function<Pair()>& make,
                       std::optional<TensorPath> expected, const std::string& what) {
    CAPTURE(what);
    Pair ref = make();
    Pair ours = make();
    REQUIRE(storage_bytes(ref.dst) == storage_bytes(ours.dst));
    ref.dst.copy_(ref.src);
    const auto before = path_counts(engine);
    engine.copy(ours.dst, ours.src);
    const auto after = path_counts(engine);
    CHECK(storage_bytes(ref.dst) == storage_bytes(ours.dst));
    CHECK(storage_bytes(ref.src) == storage_bytes(ours.src));
    if (!ours.dst.is_inference()) CHECK(ref.dst._version() == ours.dst._version());
    CHECK(ref.dst.requires_grad() == ours.dst.requires_grad());
    for (std::size_t p = 0; p < 4; ++p) {
        CAPTURE(p);
        CHECK(after[p] - before[p] == (expected && static_cast<std::size_t>(*expected) == p ? 1u : 0u));
    }
}

// --- The layout table --------------------------------------------------------------------

struct Row {
    const char* name;
    Layout dst, src;
    std::vector<Shape> shapes;
    // Elements of the innermost run contiguous in both tensors; 0: never contiguous in both.
    std::function<std::int64_t(const Shape&)> run;
};

std::int64_t whole(const Shape& s) { return numel_of(s); }
std::int64_t last(const Shape& s) { return s.back(); }
std::int64_t none(const Shape&) { return 0; }
std::int64_t from_dim2(const Shape& s) { return numel_of(Shape(s.begin() + 2, s.end())); }

const std::vector<Row>& rows() {
    static const std::vector<Row> table = {
        {"contiguous <- contiguous", Layout::Contiguous, Layout::Contiguous,
         {{}, {0}, {1}, {7}, {1023}, {3, 0}, {33, 65}, {5, 7, 9}, {2, 3, 5, 7}, {1, 1, 8, 1}}, whole},
        {"transposed <- transposed", Layout::Transposed, Layout::Transposed, {{3, 0}, {33, 65}, {5, 7, 9}}, whole},
        {"narrowed block <- contiguous", Layout::Narrowed, Layout::Contiguous,
         {{7}, {1023}, {33, 65}, {5, 7, 9}, {2, 3, 5, 7}, {5, 3000}, {3, 4100}, {2, 3, 4100}}, last},
        {"contiguous <- narrowed block", Layout::Contiguous, Layout::Narrowed, {{7}, {33, 65}, {5, 7, 9}, {3, 4100}}, last},
        {"narrowed block <- narrowed block", Layout::Narrowed, Layout::Narrowed, {{33, 65}, {2, 3, 4100}}, last},
        {"outer dims permuted <- contiguous", Layout::OuterPermuted, Layout::Contiguous,
         {{5, 7, 9}, {2, 3, 5, 7}, {3, 4, 1100}}, from_dim2},
        {"channels-last <- channels-last", Layout::ChannelsLast, Layout::ChannelsLast, {{2, 3, 5, 7}, {2, 16, 4, 4}}, whole},
        {"channels-last <- contiguous", Layout::ChannelsLast, Layout::Contiguous, {{2, 3, 5, 7}, {2, 16, 4, 4}}, none},
        {"contiguous <- transposed", Layout::Contiguous, Layout::Transposed, {{33, 65}, {5, 7, 9}}, none},
        {"transposed <- contiguous", Layout::Transposed, Layout::Contiguous, {{33, 65}}, none},
        {"every other element <- contiguous", Layout::EveryOther, Layout::Contiguous, {{7}, {1023}, {33, 65}}, none},
        {"contiguous <- broadcast along outer dims", Layout::Contiguous, Layout::BroadcastOuter,
         {{7}, {33, 65}, {5, 7, 9}, {3, 4100}, {2, 3, 4100}}, last},
        {"narrowed block <- broadcast along outer dims", Layout::Narrowed, Layout::BroadcastOuter, {{33, 65}, {3, 4100}}, last},
        {"contiguous <- broadcast along the innermost dim", Layout::Contiguous, Layout::BroadcastInner,
         {{33, 65}, {5, 7, 9}}, none},
        {"contiguous <- 0-d scalar", Layout::Contiguous, Layout::Scalar, {{}, {7}, {33, 65}}, none},
    };
    return table;
}

void run_row(tilecopy::CopyEngine& engine, const Row& row, const Shape& shape, at::ScalarType dst_type,
             at::ScalarType src_type, Fill src_fill) {
    const auto make = [&] {
        return Pair{make_tensor(row.dst, dst_type, shape, Fill::Noise, 1),
                    make_tensor(row.src, src_type, shape, src_fill, 2)};
    };
    const Pair probe = make();
    std::ostringstream what;
    what << row.name << ' ' << text(shape) << ' ' << c10::toString(dst_type) << " <- " << c10::toString(src_type)
         << (src_fill == Fill::Values ? " (NaNs in source)" : "");
    expect_like_copy_(engine, make, expected_path(probe.dst, probe.src, row.run(shape)), what.str());
}

const std::vector<at::ScalarType> kAllTypes = {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kChar, at::kByte,
                                               at::kShort, at::kInt, at::kLong, at::kBool, at::kComplexFloat};


tilecopy::CopyEngine& test_engine() {
    static tilecopy::CopyEngine engine;
    return engine;
}

} // namespace

// First in this file (doctest runs a file's cases in order), so that it is the process's first
// tensor copy: the adapter asks copy_ once what it writes for a bfloat16 NaN, in float32 even
// when the default dtype is float64 (which once made it ask the wrong question for good).
TEST_CASE("the bfloat16 NaN probe asks in float32 whatever the default dtype (float64 default dtype first)") {
    const caffe2::TypeMeta previous = at::get_default_dtype();
    at::set_default_dtype(caffe2::TypeMeta::Make<double>());
    const auto make = [] {
        return Pair{make_tensor(Layout::Contiguous, at::kBFloat16, {1024}, Fill::Noise, 1),
                    make_tensor(Layout::Contiguous, at::kFloat, {1024}, Fill::Values, 2)};
    };
    expect_like_copy_(test_engine(), make,
                      torch_writes_ffff_for_bf16_nan() ? TensorPath::Converted : TensorPath::Fallback,
                      "float32 -> bfloat16 with NaNs, default dtype float64");
    at::set_default_dtype(previous);
}

TEST_CASE("same-dtype copies match copy_ byte for byte in every layout, taking the documented path") {
    for (const Row& row : rows())
        for (const Shape& shape : row.shapes)
            for (at::ScalarType type : kAllTypes) run_row(test_engine(), row, shape, type, type, Fill::Values);
}

TEST_CASE("dtype conversions match copy_ bit for bit, special values included, fused where documented") {
    const std::vector<Row>& table = rows();
    for (const Row& row : table)
        for (const Shape& shape : row.shapes)
            for (at::ScalarType dst_type : kAllTypes)
                for (at::ScalarType src_type : kAllTypes) {
                    if (dst_type == src_type) continue;
                    run_row(test_engine(), row, shape, dst_type, src_type, Fill::Values);
                    if (src_type == at::kFloat) run_row(test_engine(), row, shape, dst_type, src_type, Fill::ValuesNoNaN);
                }
}

TEST_CASE("large copies run on the parallel path and still match copy_") {
    tilecopy::Options options;
    options.inline_threshold = 256 << 10;
    tilecopy::CopyEngine engine(options);
    const Shape large = {256, 4096}; // 4 MiB of float32
    const std::vector<Row> large_rows = {
        {"contiguous <- contiguous", Layout::Contiguous, Layout::Contiguous, {large}, whole},
        {"narrowed block <- contiguous", Layout::Narrowed, Layout::Contiguous, {large}, last},
        {"contiguous <- broadcast along outer dims", Layout::Contiguous, Layout::BroadcastOuter, {large}, last},
        {"transposed <- contiguous", Layout::Transposed, Layout::Contiguous, {large}, none},
    };
    const std::vector<std::pair<at::ScalarType, at::ScalarType>> pairs = {
        {at::kFloat, at::kFloat},    {at::kByte, at::kByte},     {at::kBFloat16, at::kFloat},
        {at::kFloat, at::kBFloat16}, {at::kHalf, at::kFloat},    {at::kFloat, at::kHalf}};
    for (const Row& row : large_rows)
        for (const auto& [dst_type, src_type] : pairs) {
            const tilecopy::Stats before = engine.stats();
            run_row(engine, row, large, dst_type, src_type, Fill::ValuesNoNaN);
            const tilecopy::Stats after = engine.stats();
            const bool fast = after.tensor_fallback == before.tensor_fallback;
            const bool bf16_fallback = dst_type == at::kBFloat16 && src_type == at::kFloat && !torch_writes_ffff_for_bf16_nan();
            CHECK(fast == (row.run(large) != 0 && !bf16_fallback));
            if (fast) CHECK(after.parallel_copies > before.parallel_copies);
        }
    // NaNs in a large float32 -> bfloat16 copy: the fused kernels write what copy_ writes.
    run_row(engine, large_rows[0], large, at::kBFloat16, at::kFloat, Fill::Values);
    // More runs than one schedule takes (4096 regions): the copy runs as several schedules.
    const Shape many_runs = {4100, 2048};
    run_row(engine, large_rows[1], many_runs, at::kFloat, at::kFloat, Fill::Values);
    run_row(engine, large_rows[1], many_runs, at::kBFloat16, at::kFloat, Fill::ValuesNoNaN);
    run_row(engine, large_rows[1], many_runs, at::kBFloat16, at::kFloat, Fill::Values);
}

TEST_CASE("a single NaN anywhere in a float32 -> bfloat16 copy comes out as copy_ writes it") {
    const std::int64_t n = 1023; // vector bodies and every tail position of the kernels
    for (std::int64_t position : {std::int64_t(0), std::int64_t(511), n - 4, n - 3, n - 2, n - 1}) {
        const auto make = [&] {
            at::Tensor src = make_tensor(Layout::Contiguous, at::kFloat, {n}, Fill::ValuesNoNaN, 8);
            const std::uint32_t nan = 0x7FA12345;
            std::memcpy(src.data_ptr<float>() + position, &nan, 4);
            return Pair{make_tensor(Layout::Contiguous, at::kBFloat16, {n}, Fill::Noise, 9), src};
        };
        const TensorPath path = torch_writes_ffff_for_bf16_nan() ? TensorPath::Converted : TensorPath::Fallback;
        expect_like_copy_(test_engine(), make, path, "NaN at " + std::to_string(position));
    }
}

TEST_CASE("single-element float32 NaN copies to bfloat16 come out as copy_'s scalar loop writes them") {
    // torch takes its scalar loop (0x7FC0) for a broadcast single element: a 0-dim source, or [1]
    // into [1, 1]; its vector kernels (0xFFFF) for [1] into [1]. All go to copy_.
    const auto nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{}, {}}, {{1}, {}}, {{1, 1}, {}}, {{1, 1}, {1}}, {{1, 1, 1}, {1, 1}}, {{1}, {1}}};
    for (const auto& [dst_shape, src_shape] : shapes) {
        const auto make = [&, dst_shape = dst_shape, src_shape = src_shape] {
            return Pair{make_tensor(Layout::Contiguous, at::kBFloat16, dst_shape, Fill::Noise, 4), at::full(src_shape, nan)};
        };
        expect_like_copy_(test_engine(), make, TensorPath::Fallback, text(dst_shape) + " <- " + text(src_shape));
    }
    // Two elements or more with contiguous runs: torch's vector kernels, our fused path.
    const auto row = [&] {
        return Pair{make_tensor(Layout::Contiguous, at::kBFloat16, {1, 5}, Fill::Noise, 5), at::full({5}, nan)};
    };
    expect_like_copy_(test_engine(), row,
                      torch_writes_ffff_for_bf16_nan() ? TensorPath::Converted : TensorPath::Fallback, "[1, 5] <- [5]");
}

TEST_CASE("every kernel this CPU runs takes the contiguous, strided and converted paths exactly") {
    int engines = 0;
    for (const char* name : {"scalar", "avx2", "avx512"}) {
        tilecopy::Options options;
        options.kernel = name;
        options.inline_threshold = 64 << 10;
        std::optional<tilecopy::CopyEngine> engine;
        try {
            engine.emplace(options);
        } catch (const tilecopy::Error& e) {
            const std::string message = e.what();
            const bool unsupported = message.find("cannot run here") != std::string::npos ||
                                     message.find("was not compiled") != std::string::npos;
            CHECK_MESSAGE(unsupported, "unexpected error for kernel " << name << ": " << message);
            MESSAGE("kernel " << name << " skipped: " << message);
            continue;
        }
        ++engines;
        CHECK(std::string(engine->kernel()) == name);
        const Shape shape = {40, 4100}; // 640 KiB of float32: blocks run in parallel
        for (const Row& row : rows()) {
            if (row.dst != Layout::Contiguous && row.dst != Layout::Narrowed) continue;
            if (row.src != Layout::Contiguous && row.src != Layout::Narrowed && row.src != Layout::BroadcastOuter) continue;
            for (auto [dst_type, src_type] : std::vector<std::pair<at::ScalarType, at::ScalarType>>{
                     {at::kFloat, at::kFloat}, {at::kHalf, at::kHalf}, {at::kBFloat16, at::kFloat},
                     {at::kFloat, at::kBFloat16}, {at::kHalf, at::kFloat}, {at::kFloat, at::kHalf}}) {
                run_row(*engine, row, shape, dst_type, src_type, Fill::ValuesNoNaN);
                run_row(*engine, row, {1023}, dst_type, src_type, Fill::Values);
            }
        }
    }
    CHECK(engines >= 1);
}

TEST_CASE("pairs that copy_ accepts in odd ways give copy_'s result") {
    auto& engine = test_engine();
    const auto f = [](Shape s) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, 4); };
    const auto c = [](Shape s) { return make_tensor(Layout::Contiguous, at::kComplexFloat, s, Fill::Values, 5); };
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b, b}; }, std::nullopt, "a tensor onto itself");
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b, b.view({100})}; }, std::nullopt,
                      "full overlap with identical layout");
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b.view(at::kInt), b}; }, TensorPath::Fallback,
                      "full overlap with another dtype");
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b, b.narrow(0, 0, 1).expand({100})}; },
                      TensorPath::Fallback, "source expanded from the destination's first element");
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b.as_strided({8, 8}, {2, 1}), f({8, 8})}; },
                      TensorPath::Fallback, "destination whose elements alias (as_strided)");
    expect_like_copy_(engine, [&] { auto b = f({100}); return Pair{b.as_strided({8, 16}, {8, 1}, 20), f({8, 16})}; },
                      TensorPath::Fallback, "destination rows aliasing each other");
    expect_like_copy_(engine, [&] { return Pair{f({3}).as_strided({1, 3}, {0, 1}), f({1, 3})}; }, TensorPath::Contiguous,
                      "expanded destination of one element");
    expect_like_copy_(engine, [&] { return Pair{f({1, 3}).expand({0, 3}), f({3})}; }, std::nullopt,
                      "expanded destination of no elements");
    expect_like_copy_(engine, [&] {
        auto b = f({100});
        auto other = at::from_blob(b.data_ptr<float>() + 10, {60}); // another storage, same bytes
        return Pair{b.narrow(0, 0, 60), other};
    }, TensorPath::Fallback, "two storages over overlapping memory");
    expect_like_copy_(engine, [&] { return Pair{f({64}), c({64})}; }, TensorPath::Fallback, "complex to real");
    expect_like_copy_(engine, [&] { return Pair{c({64}), c({64}).conj()}; }, TensorPath::Fallback, "conjugate view");
    expect_like_copy_(engine, [&] { return Pair{c({64}).conj(), c({64})}; }, TensorPath::Fallback, "into a conjugate view");
    expect_like_copy_(engine, [&] { return Pair{f({64}), at::_neg_view(f({64}))}; }, TensorPath::Fallback, "negative view");
    expect_like_copy_(engine, [&] { return Pair{f({64}), f({64}).requires_grad_()}; }, TensorPath::Fallback,
                      "source that requires grad");
    {
        at::NoGradGuard no_grad;
        expect_like_copy_(engine, [&] { return Pair{f({64}).requires_grad_(), f({64})}; }, TensorPath::Contiguous,
                          "leaf that requires grad with grad mode off");
    }
    {
        c10::InferenceMode guard;
        expect_like_copy_(engine, [&] { return Pair{f({64}), f({64})}; }, TensorPath::Contiguous,
                          "inference tensors inside InferenceMode");
    }
    {
        const std::vector<Pair> normal = {Pair{f({64}), f({64})}, Pair{f({64}), f({64})}};
        std::size_t next_pair = 0;
        c10::InferenceMode guard;
        expect_like_copy_(engine, [&] { return normal[next_pair++]; }, TensorPath::Contiguous,
                          "normal tensors copied inside InferenceMode");
    }
    expect_like_copy_(engine, [&] { return Pair{at::empty({3}, at::TensorOptions().device(at::kMeta)), f({3})}; },
                      TensorPath::Fallback, "meta destination");
}

TEST_CASE("deepspeed_py_memcpy writes every element of non-contiguous and multi-dim destinations") {
    for (auto [layout, shape] : std::vector<std::pair<Layout, Shape>>{{Layout::Transposed, {40, 70}},
                                                                      {Layout::Narrowed, {6, 20, 33}},
                                                                      {Layout::Contiguous, {4, 5, 6, 7}}})
        for (auto dst_type : {at::kFloat, at::kBFloat16}) {
            at::Tensor expected = make_tensor(layout, dst_type, shape, Fill::Noise, 6);
            at::Tensor dest = make_tensor(layout, dst_type, shape, Fill::Noise, 6);
            const at::Tensor src = make_tensor(Layout::Contiguous, at::kFloat, shape, Fill::ValuesNoNaN, 7);
            expected.copy_(src);
            CHECK(tilecopy::deepspeed_py_memcpy(dest, src) == 0);
            CHECK(storage_bytes(dest) == storage_bytes(expected));
        }
}

TEST_CASE("the tensor planner's run minimum is the engine's tunable") {
    // Rows of 4 KiB runs (float32, a padded matrix): tilecopy's runs at the default 4 KiB
    // minimum, torch's copy_ once Options::min_run_bytes asks for longer runs.
    const at::Tensor src = make_tensor(Layout::Contiguous, at::kFloat, {64, 2048}, Fill::ValuesNoNaN, 3).narrow(1, 0, 1024);
    for (std::size_t min_run : {std::size_t(0), std::size_t(64) << 10}) {
        CAPTURE(min_run);
        tilecopy::Options options;
        options.min_run_bytes = min_run;
        tilecopy::CopyEngine engine(options);
        CHECK(engine.options().min_run_bytes == (min_run ? min_run : 4096));
        at::Tensor dst = make_tensor(Layout::Contiguous, at::kFloat, {64, 1024}, Fill::Noise, 4);
        at::Tensor expected = make_tensor(Layout::Contiguous, at::kFloat, {64, 1024}, Fill::Noise, 4); // same bytes
        expected.copy_(src);
        engine.copy(dst, src);
        CHECK(storage_bytes(dst) == storage_bytes(expected));
        const tilecopy::Stats s = engine.stats();
        CHECK(s.tensor_strided == (min_run ? 0 : 1));
        CHECK(s.tensor_fallback == (min_run ? 1 : 0));
    }
}
