// torch's semantics beyond the bytes: which tensors reach the fast paths (only plain dense CPU
// ones), refusals in copy_'s own words (a table of every refusal, compared with copy_'s message),
// autograd (no-grad copies on the fast paths with copy_'s version counters), and the libtorch
// version the adapter runs with. copy_ is the oracle throughout: every case runs it on one twin.
#include <ATen/BatchedTensorImpl.h>
#include <ATen/FunctionalTensorWrapper.h>
#include <torch/csrc/autograd/function.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "torch_doctest.hpp"

using tilecopy::TensorPath;
using namespace tilecopy::test;

namespace {

tilecopy::CopyEngine& engine() {
    static tilecopy::CopyEngine e;
    return e;
}

at::Tensor f(Shape s, std::uint32_t seed = 3) { return make_tensor(Layout::Contiguous, at::kFloat, s, Fill::Values, seed); }

// What copy_ says (what_without_backtrace(): the message Python shows), or nullopt.
std::optional<std::string> copy_message(const Pair& p) {
    try {
        p.dst.copy_(p.src);
    } catch (const c10::Error& e) {
        return std::string(e.what_without_backtrace());
    }
    return std::nullopt;
}

// copy_ refuses make()'s pair; the engine must refuse it with tilecopy::Error carrying exactly
// copy_'s message, and leave every byte and path counter as it was.
void expect_refused_in_torch_words(const std::function<Pair()>& make, const std::string& what) {
    CAPTURE(what);
    const std::optional<std::string> expected = copy_message(make());
    REQUIRE_MESSAGE(expected.has_value(), "copy_ accepts " << what);
    Pair ours = make();
    const auto dst_before = storage_bytes(ours.dst), src_before = storage_bytes(ours.src);
    const auto paths_before = path_counts(engine());
    std::optional<std::string> message;
    try {
        engine().copy(ours.dst, ours.src);
    } catch (const tilecopy::Error& e) {
        message = e.what();
    }
    REQUIRE_MESSAGE(message.has_value(), "tilecopy accepts " << what);
    CHECK(*message == *expected);
    CHECK(storage_bytes(ours.dst) == dst_before);
    CHECK(storage_bytes(ours.src) == src_before);
    CHECK(path_counts(engine()) == paths_before);
}

at::Tensor inference_tensor(Shape s) {
    c10::InferenceMode guard;
    return f(s);
}

at::Tensor named(Shape s, const char* name) {
    at::Tensor t = f(s);
    at::internal_set_names_inplace(t, std::vector<at::Dimname>{at::Dimname::fromSymbol(at::Symbol::dimname(name))});
    return t;
}

// A view made under no_grad of a leaf that requires grad: copy_ refuses to write it with grad
// mode on (autograd cannot tell which history it should have).
at::Tensor no_grad_view() {
    at::Tensor leaf = f({8}).requires_grad_();
    at::NoGradGuard no_grad;
    return leaf.narrow(0, 0, 4);
}

struct Refusal {
    const char* what;
    std::function<Pair()> make;
};

const std::vector<Refusal>& refusals() {
    static const std::vector<Refusal> table = {
        {"undefined destination", [] { return Pair{at::Tensor(), f({3})}; }},
        {"undefined source", [] { return Pair{f({3}), at::Tensor()}; }},
        {"[2, 3] <- [4]", [] { return Pair{f({2, 3}), f({4})}; }},
        {"[3] <- [2, 3]", [] { return Pair{f({3}), f({2, 3})}; }},
        {"[3] <- [1, 3]", [] { return Pair{f({3}), f({1, 3})}; }},
        {"[] <- [1]", [] { return Pair{f({}), f({1})}; }},
        {"[] <- [2, 3]", [] { return Pair{f({}), f({2, 3})}; }},
        {"[0, 3] <- [2, 3]", [] { return Pair{f({0, 3}), f({2, 3})}; }},
        {"[2, 3] <- [3, 2]", [] { return Pair{f({2, 3}), f({3, 2})}; }},
        {"[1] <- [2]", [] { return Pair{f({1}), f({2})}; }},
        {"[4, 1, 3] <- [2, 5, 3]", [] { return Pair{f({4, 1, 3}), f({2, 5, 3})}; }},
        {"expanded destination", [] { return Pair{f({1, 64}).expand({4, 64}), f({4, 64})}; }},
        {"expanded destination and a bad shape (overlap is checked first)",
         [] { return Pair{f({1, 64}).expand({4, 64}), f({3})}; }},
        {"overlapping slices", [] { auto b = f({100}); return Pair{b.narrow(0, 0, 60), b.narrow(0, 20, 60)}; }},
        {"a tensor and its transpose", [] { auto b = f({64, 64}); return Pair{b, b.t()}; }},
        {"overlapping slices of different dtypes",
         [] { auto b = f({100}); return Pair{b.narrow(0, 0, 60).view(at::kInt), b.narrow(0, 30, 60)}; }},
        {"one storage under two shapes", [] { auto b = f({100}); return Pair{b.view({1, 100}), b}; }},
        {"partial overlap and a bad shape", [] { auto b = f({100}); return Pair{b.narrow(0, 0, 60), b.narrow(0, 20, 30)}; }},
        {"leaf that requires grad", [] { return Pair{f({8}).requires_grad_(), f({8})}; }},
        {"leaf that requires grad, bad shape (autograd first)", [] { return Pair{f({8}).requires_grad_(), f({3})}; }},
        {"leaf that requires grad onto itself", [] { auto t = f({8}).requires_grad_(); return Pair{t, t}; }},
        {"view of a leaf that requires grad", [] { return Pair{f({8}).requires_grad_().narrow(0, 0, 4), f({4})}; }},
        {"view made under no_grad, written with grad mode on", [] { return Pair{no_grad_view(), f({4}).requires_grad_()}; }},
        {"inference tensor outside InferenceMode", [] { return Pair{inference_tensor({256}), f({256})}; }},
        {"inference tensor from an inference tensor", [] { return Pair{inference_tensor({256}), inference_tensor({256})}; }},
        {"inference tensor onto itself", [] { auto t = inference_tensor({4}); return Pair{t, t}; }},
        {"sparse source", [] { return Pair{f({3}), f({3}).to_sparse()}; }},
        {"sparse destination", [] { return Pair{f({3}).to_sparse(), f({3})}; }},
        {"quantized source", [] { return Pair{f({3}), at::quantize_per_tensor(f({3}).nan_to_num(), 0.1, 0, at::kQUInt8)}; }},
        {"zero tensor destination", [] { return Pair{at::_efficientzerotensor({3}), f({3})}; }},
        {"meta source", [] { return Pair{f({3}), at::empty({3}, at::TensorOptions().device(at::kMeta))}; }},
        {"mkldnn source", [] { return Pair{f({3}), f({3}).to_mkldnn()}; }},
        {"named tensors whose names differ", [] { return Pair{named({3}, "N"), named({3}, "C")}; }},
        {"nested tensors", [] {
             return Pair{at::_nested_tensor_from_tensor_list({f({3}), f({4})}),
                         at::_nested_tensor_from_tensor_list({f({3}, 5), f({4}, 6)})};
         }},
    };
    return table;
}

} // namespace

TEST_CASE("every refusal carries copy_'s own message, unchanged, and writes nothing") {
    for (const Refusal& r : refusals()) expect_refused_in_torch_words(r.make, r.what);
}

TEST_CASE("for every pair of small shapes the engine accepts exactly what copy_ accepts, refusing in its words") {
    std::vector<Shape> shapes = {{}};
    for (std::size_t dims = 1; dims <= 3; ++dims) {
        const std::size_t before = shapes.size();
        for (std::size_t i = 0; i < before; ++i)
            if (shapes[i].size() == dims - 1)
                for (std::int64_t size : {0, 1, 2, 3}) {
                    Shape s = shapes[i];
                    s.push_back(size);
                    shapes.push_back(s);
                }
    }
    int refused = 0;
    for (const Shape& d : shapes)
        for (const Shape& s : shapes) {
            CAPTURE(text(s) + " into " + text(d));
            const std::optional<std::string> expected = copy_message(Pair{f(d, 1), f(s, 2)});
            const Pair ours{f(d, 1), f(s, 2)};
            std::optional<std::string> message;
            try {
                engine().copy(ours.dst, ours.src);
            } catch (const tilecopy::Error& e) {
                message = e.what();
            }
            CHECK(message == expected);
            refused += expected.has_value();
        }
    CHECK(refused > 1000); // the table holds many refusals of each kind
}

TEST_CASE("copy_'s message also comes back unchanged from an asynchronous copy") {
    for (const Refusal& r : refusals()) {
        CAPTURE(r.what);
        const std::optional<std::string> expected = copy_message(r.make());
        const Pair ours = r.make();
        std::string message;
        try {
            engine().copy_async(ours.dst, ours.src).wait();
        } catch (const tilecopy::Error& e) {
            message = e.what();
        }
        CHECK(message == expected.value_or("(accepted)"));
    }
}

TEST_CASE("a refused pair of a batch carries copy_'s message followed by the pair's index") {
    for (const Refusal& r : refusals()) {
        CAPTURE(r.what);
        const std::optional<std::string> expected = copy_message(r.make());
        const Pair bad = r.make();
        std::vector<at::Tensor> dsts = {f({64}, 1), bad.dst}, srcs = {f({64}, 2), bad.src};
        std::string message;
        try {
            engine().copy_batch(dsts, srcs);
        } catch (const tilecopy::Error& e) {
            message = e.what();
        }
        CHECK(message == expected.value_or("(accepted)") + " (pair 1 of the batch)");
    }
}

// --- Which tensors reach the kernels ------------------------------------------------------

namespace {

struct Wrapper {
    const char* what;
    std::function<Pair()> make;
    // The bytes a copy leaves where they can be read (empty: none readable).
    std::function<std::vector<unsigned char>(const Pair&)> result;
};

std::vector<unsigned char> dst_bytes(const Pair& p) { return storage_bytes(p.dst); }

std::vector<unsigned char> functional_bytes(const Pair& p) {
    at::functionalization::impl::sync(p.dst);
    return storage_bytes(at::functionalization::impl::from_functional_tensor(p.dst).contiguous());
}

std::vector<unsigned char> batched_bytes(const Pair& p) {
    return storage_bytes(at::maybeGetBatchedImpl(p.dst)->value());
}

std::vector<unsigned char> unreadable(const Pair&) { return {}; }

} // namespace

TEST_CASE("tensors that are not plain dense CPU tensors go to copy_ and give copy_'s result") {
    using at::functionalization::impl::to_functional_tensor;
    const auto meta = at::TensorOptions().device(at::kMeta);
    const std::vector<Wrapper> wrappers = {
        {"functionalization wrapper destination (null data pointer)",
         [] { return Pair{to_functional_tensor(f({4096}, 1)), f({4096}, 2)}; }, functional_bytes},
        {"functionalization wrapper source", [] { return Pair{f({4096}, 1), to_functional_tensor(f({4096}, 2))}; }, dst_bytes},
        {"functionalization wrappers both", [] {
             return Pair{to_functional_tensor(f({4096}, 1)), to_functional_tensor(f({4096}, 2))};
         }, functional_bytes},
        {"vmap-batched destination", [] { return Pair{at::addBatchDim(f({3, 4096}, 1), 0, 0), f({4096}, 2)}; }, batched_bytes},
        {"vmap-batched source", [] { return Pair{f({3, 4096}, 1), at::addBatchDim(f({3, 4096}, 2), 0, 0)}; }, dst_bytes},
        {"meta destination", [meta] { return Pair{at::empty({4096}, meta), f({4096}, 2)}; }, unreadable},
        {"meta destination and source", [meta] { return Pair{at::empty({4096}, meta), at::empty({4096}, meta)}; }, unreadable},
        {"sparse pair", [] { return Pair{f({64}, 1).to_sparse(), f({64}, 2).to_sparse()}; }, unreadable},
        {"zero tensor source", [] { return Pair{f({4096}, 1), at::_efficientzerotensor({4096})}; }, dst_bytes},
        {"conjugate view source", [] {
             return Pair{make_tensor(Layout::Contiguous, at::kComplexFloat, {2048}, Fill::Values, 1),
                         make_tensor(Layout::Contiguous, at::kComplexFloat, {2048}, Fill::Values, 2).conj()};
         }, dst_bytes},
        {"negative view source", [] { return Pair{f({4096}, 1), at::_neg_view(f({4096}, 2))}; }, dst_bytes},
        {"named tensors", [] { return Pair{named({4096}, "N"), named({4096}, "N")}; }, dst_bytes},
        {"quantized destination", [] {
             return Pair{at::quantize_per_tensor(f({64}, 1).nan_to_num(), 0.1, 0, at::kQUInt8), f({64}, 2).nan_to_num()};
         }, [](const Pair& p) { return storage_bytes(p.dst.int_repr()); }},
        {"mkldnn destination", [] { return Pair{f({64}, 1).nan_to_num().to_mkldnn(), f({64}, 2).nan_to_num().to_mkldnn()}; },
         [](const Pair& p) { return storage_bytes(p.dst.to_dense()); }},
    };
    for (const Wrapper& w : wrappers) {
        CAPTURE(w.what);
        const Pair ref = w.make();
        const std::optional<std::string> refused = copy_message(ref);
        const Pair ours = w.make();
        const auto before = path_counts(engine());
        std::optional<std::string> message;
        try {
            engine().copy(ours.dst, ours.src);
        } catch (const tilecopy::Error& e) {
            message = e.what();
        }
        CHECK(message == refused);
        const auto after = path_counts(engine());
        CHECK(after[0] == before[0]); // no kernel path
        CHECK(after[1] == before[1]);
        CHECK(after[2] == before[2]);
        if (!refused) {
            CHECK(after[3] == before[3] + 1);
            CHECK(w.result(ours) == w.result(ref));
        }
    }
}

TEST_CASE("a plain tensor whose data pointer is null with elements to copy is refused, never written") {
    const at::Tensor null_dst = at::from_blob(nullptr, {64}, at::kFloat);
    const at::Tensor src = f({64});
    CHECK_THROWS_WITH_AS(engine().copy(null_dst, src), doctest::Contains("destination's data pointer is null"),
                         tilecopy::Error);
    at::Tensor dst = f({64}, 4);
    const auto before = storage_bytes(dst);
    CHECK_THROWS_WITH_AS(engine().copy(dst, at::from_blob(nullptr, {64}, at::kFloat)),
                         doctest::Contains("source's data pointer is null"), tilecopy::Error);
    CHECK(storage_bytes(dst) == before);
    // With no elements, nothing is read or written: accepted, as by copy_.
    const at::Tensor empty_null = at::from_blob(nullptr, {0}, at::kFloat);
    CHECK_NOTHROW(engine().copy(empty_null, f({0})));
}

// --- Autograd ---------------------------------------------------------------------------

namespace {

// Under `mode` (no_grad or InferenceMode), copy_ and the engine on twins: same bytes, same
// version counters, no grad_fn, requires_grad kept, and the engine on `path`.
template <class Mode>
void expect_no_grad_copy(const std::function<Pair()>& make, TensorPath path, const std::string& what) {
    CAPTURE(what);
    const Pair ref = make(), ours = make();
    const auto before = path_counts(engine());
    {
        Mode mode;
        ref.dst.copy_(ref.src);
        engine().copy(ours.dst, ours.src);
        ref.dst.copy_(ref.src); // twice: the counters must keep step
        engine().copy(ours.dst, ours.src);
    }
    const auto after = path_counts(engine());
    CHECK(storage_bytes(ref.dst) == storage_bytes(ours.dst));
    CHECK(ref.dst._version() == ours.dst._version());
    CHECK(ours.dst._version() >= 2);
    CHECK(ref.dst.requires_grad() == ours.dst.requires_grad());
    CHECK((ours.dst.grad_fn() == nullptr) == (ref.dst.grad_fn() == nullptr));
    CHECK(after[static_cast<std::size_t>(path)] == before[static_cast<std::size_t>(path)] + 2);
    if (path != TensorPath::Fallback)
        CHECK(after[static_cast<std::size_t>(TensorPath::Fallback)] == before[static_cast<std::size_t>(TensorPath::Fallback)]);
}

} // namespace

TEST_CASE("under no_grad and InferenceMode, tensors that require grad take the fast paths with copy_'s versions") {
    const auto leaf = [] { return f({64, 1024}, 1).requires_grad_(); };
    const std::vector<std::tuple<const char*, std::function<Pair()>, TensorPath>> cases = {
        {"leaf destination", [&] { return Pair{leaf(), f({64, 1024}, 2)}; }, TensorPath::Contiguous},
        {"source requiring grad", [&] { return Pair{f({64, 1024}, 2), leaf()}; }, TensorPath::Contiguous},
        {"both", [&] { return Pair{leaf(), leaf()}; }, TensorPath::Contiguous},
        {"row block view of a leaf", [&] { return Pair{leaf().narrow(1, 0, 1024).narrow(0, 8, 16), f({16, 1024}, 3)}; },
         TensorPath::Contiguous},
        {"column block of a leaf (strided)", [&] { return Pair{f({64, 2048}, 1).requires_grad_().narrow(1, 0, 1100), f({64, 1100}, 3)}; },
         TensorPath::Strided},
        {"bfloat16 staging buffer from a parameter", [&] {
             return Pair{make_tensor(Layout::Contiguous, at::kBFloat16, {64, 1024}, Fill::Noise, 4),
                         f({64, 1024}, 5).nan_to_num().requires_grad_()};
         }, TensorPath::Converted},
        {"parameter from a float16 staging buffer", [&] {
             return Pair{leaf(), make_tensor(Layout::Contiguous, at::kHalf, {64, 1024}, Fill::Values, 6)};
         }, TensorPath::Converted},
    };
    for (const auto& [what, make, fast_path] : cases) {
        // float32 -> bfloat16 goes to copy_ when torch runs its scalar kernels (0x7FC0 NaNs).
        const Pair probe = make();
        const bool to_bf16 = probe.dst.scalar_type() == at::kBFloat16 && probe.src.scalar_type() == at::kFloat;
        const TensorPath path = to_bf16 && !torch_writes_ffff_for_bf16_nan() ? TensorPath::Fallback : fast_path;
        expect_no_grad_copy<at::NoGradGuard>(make, path, std::string(what) + " under no_grad");
        expect_no_grad_copy<c10::InferenceMode>(make, path, std::string(what) + " under InferenceMode");
    }
}

TEST_CASE("with grad mode on, copies that record history go to copy_ and get its grad_fn") {
    const Pair ref{f({64}).requires_grad_() * 2, f({64}, 2)};
    const at::Tensor base = f({64}).requires_grad_();
    const Pair ours{base * 2, f({64}, 2)};
    ref.dst.copy_(ref.src);
    const auto before = path_counts(engine());
    engine().copy(ours.dst, ours.src);
    CHECK(path_counts(engine())[3] == before[3] + 1);
    REQUIRE(ours.dst.grad_fn() != nullptr);
    CHECK(ours.dst.grad_fn()->name() == ref.dst.grad_fn()->name());
    CHECK(ours.dst._version() == ref.dst._version());
    // A source requiring grad into a plain destination: copy_ makes it require grad.
    const at::Tensor plain = f({64}, 3);
    engine().copy(plain, f({64}, 4).requires_grad_());
    CHECK(plain.requires_grad());
    // Integer destinations record nothing: the fast path, as copy_ records no history.
    const at::Tensor ints = at::zeros({2048}, at::kInt);
    const auto before_int = path_counts(engine());
    engine().copy(ints, at::ones({2048}, at::kInt));
    CHECK(path_counts(engine())[0] == before_int[0] + 1);
}

TEST_CASE("fast paths bump the version counter exactly as copy_ does, without grad too") {
    for (int copies = 0; copies < 4; ++copies) {
        CAPTURE(copies);
        const at::Tensor ref = f({4096}, 1), ours = f({4096}, 1), src = f({4096}, 2), scalar = f({}, 7);
        for (int i = 0; i < copies; ++i) {
            ref.copy_(src);
            engine().copy(ours, src);
        }
        ref.copy_(ref); // onto itself: copy_ still bumps
        engine().copy(ours, ours);
        ref.copy_(scalar); // a broadcast 0-dim source
        engine().copy(ours, scalar);
        CHECK(ref._version() == ours._version());
        const at::Tensor ref_empty = f({0}), our_empty = f({0});
        for (int i = 0; i <= copies; ++i) {
            ref_empty.copy_(f({0}));
            engine().copy(our_empty, f({0}));
        }
        CHECK(ref_empty._version() == our_empty._version());
    }
}

// --- The libtorch version ------------------------------------------------------------------

TEST_CASE("describe() names the libtorch the adapter runs with, and another minor version sends every copy to copy_") {
    const char* forced = std::getenv("TILECOPY_TORCH_VERSION");
    const bool other = forced && std::string(forced).rfind("1.13", 0) != 0;
    std::string line;
    for (const std::string& l : engine().describe())
        if (l.rfind("torch adapter: ", 0) == 0) line = l;
    CAPTURE(line);
    CHECK(line.find("built for libtorch 1.13") != std::string::npos);
    CHECK(line.find(other ? "every tensor copy goes to torch's copy_" : "fast paths on") != std::string::npos);
    const Pair ref{f({64, 1024}, 1), f({64, 1024}, 2)}, ours{f({64, 1024}, 1), f({64, 1024}, 2)};
    ref.dst.copy_(ref.src);
    const auto before = path_counts(engine());
    engine().copy(ours.dst, ours.src);
    CHECK(storage_bytes(ref.dst) == storage_bytes(ours.dst));
    CHECK(path_counts(engine())[other ? 3 : 0] == before[other ? 3 : 0] + 1);
    // The refusals are copy_'s then too, in its words.
    expect_refused_in_torch_words([] { return Pair{f({1, 64}).expand({4, 64}), f({4, 64})}; }, "expanded destination");
}
