// Tensors in tilecopy memory (CopyEngine::clone, clone_batch, their async forms, empty_like,
// prefault(tensor)) against torch's own: Tensor.clone().detach() is the oracle for sizes,
// strides, dtype and every byte; torch.empty_like for the layout. Clones outlive their engine
// and work in a forked child; refusals throw and leave the sources as they were.
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "torch_doctest.hpp"

#include <tilecopy/torch.hpp>

using namespace tilecopy::test;

namespace clone_tests {

const std::vector<at::ScalarType> kDtypes = {at::kBool,  at::kByte,   at::kChar,  at::kShort,
                                             at::kInt,   at::kLong,   at::kHalf,  at::kBFloat16,
                                             at::kFloat, at::kDouble, at::kComplexFloat, at::kComplexDouble};

// Every element's bytes in logical order (NaN payloads included).
std::vector<unsigned char> logical_bytes(const at::Tensor& t) {
    const at::Tensor c = t.resolve_conj().resolve_neg().contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    return std::vector<unsigned char>(p, p + c.nbytes());
}

// `ours` is what t.clone().detach() gives, as a tensor of its own in a storage of its own.
void expect_clone_of(const at::Tensor& ours, const at::Tensor& t) {
    const at::Tensor ref = t.clone().detach();
    CHECK(ours.sizes() == ref.sizes());
    CHECK(ours.strides() == ref.strides());
    CHECK(ours.dtype() == ref.dtype());
    CHECK(ours.storage_offset() == 0);
    CHECK(ours.storage().nbytes() == ref.storage().nbytes());
    CHECK(!ours.requires_grad());
    CHECK(!ours.grad_fn());
    CHECK(!ours.is_conj());
    CHECK(!ours.is_neg());
    CHECK(logical_bytes(ours) == logical_bytes(ref));
    if (ours.numel() > 0) CHECK(ours.data_ptr() != t.data_ptr());
}

std::vector<at::Tensor> every_layout(at::ScalarType dtype, std::uint32_t seed) {
    std::vector<at::Tensor> out;
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::EveryOther, Layout::Narrowed,
                          Layout::ChannelsLast, Layout::OuterPermuted, Layout::BroadcastInner}) {
        const Shape shape = layout == Layout::ChannelsLast ? Shape{2, 3, 4, 5} : Shape{3, 5, 7};
        out.push_back(make_tensor(layout, dtype, shape, Fill::Values, seed++));
    }
    out.push_back(make_tensor(Layout::Scalar, dtype, {}, Fill::Values, seed++));
    out.push_back(at::empty({0, 3}, at::TensorOptions().dtype(dtype)));
    out.push_back(at::empty({4, 0}, at::TensorOptions().dtype(dtype)).t());
    // A size-1 dimension with an odd stride (dense: torch keeps it), and a gap (not dense).
    out.push_back(at::empty_strided({2, 1, 3}, {3, 7, 1}, at::TensorOptions().dtype(dtype)).fill_(1));
    out.push_back(at::empty_strided({2, 3}, {1, 3}, at::TensorOptions().dtype(dtype)).fill_(0));
    return out;
}

// A fork()ed child runs `body` (exit status 0 when it returns true; an alarm kills a hang).
template <typename Fn>
bool in_child(Fn&& body) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        std::_Exit(body() ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace clone_tests

using namespace clone_tests;

TEST_CASE("clone is Tensor.clone().detach() for every dtype and layout, alone and in batches") {
    tilecopy::CopyEngine engine;
    std::uint32_t seed = 1;
    for (at::ScalarType dtype : kDtypes) {
        CAPTURE(c10::toString(dtype));
        const std::vector<at::Tensor> sources = every_layout(dtype, seed);
        seed += 100;
        for (std::size_t i = 0; i < sources.size(); ++i) {
            CAPTURE(i);
            expect_clone_of(engine.clone(sources[i]), sources[i]);
            expect_clone_of(engine.clone_async(sources[i]).result().front(), sources[i]);
            const at::Tensor like = engine.empty_like(sources[i]);
            const at::Tensor ref = at::empty_like(sources[i]);
            CHECK(like.sizes() == ref.sizes());
            CHECK(like.strides() == ref.strides());
            CHECK(like.dtype() == ref.dtype());
        }
        const std::vector<at::Tensor> batch = engine.clone_batch(sources);
        REQUIRE(batch.size() == sources.size());
        for (std::size_t i = 0; i < sources.size(); ++i) {
            CAPTURE(i);
            expect_clone_of(batch[i], sources[i]);
        }
        // Each clone of a batch is a storage of its own: writing one leaves the others.
        for (std::size_t i = 0; i < batch.size(); ++i)
            for (std::size_t j = i + 1; j < batch.size(); ++j)
                if (batch[i].numel() > 0 && batch[j].numel() > 0) CHECK(!batch[i].is_alias_of(batch[j]));
    }
}

TEST_CASE("clones of large tensors run on the arenas and match; sources may share memory") {
    tilecopy::CopyEngine engine;
    const at::Tensor big = make_tensor(Layout::Contiguous, at::kFloat, {3 << 18}, Fill::ValuesNoNaN, 7); // 3 MiB
    const at::Tensor cols = make_tensor(Layout::EveryOther, at::kFloat, {512, 1024}, Fill::ValuesNoNaN, 8);
    const std::vector<at::Tensor> sources = {big, cols, big, big.narrow(0, 1000, 70000), cols.t()};
    const std::vector<at::Tensor> clones = engine.clone_batch(sources);
    for (std::size_t i = 0; i < sources.size(); ++i) {
        CAPTURE(i);
        expect_clone_of(clones[i], sources[i]);
    }
    tilecopy::TensorsHandle h = engine.clone_batch_async({big * 2, cols.t() + 1}); // temporaries: kept by the copy
    const std::vector<at::Tensor> later = h.result();
    CHECK(h.done());
    CHECK(h.copy().bytes_copied() == h.copy().bytes_total());
    CHECK(at::equal(later[0], big * 2));
    CHECK(at::equal(later[1], cols.t() + 1));
    CHECK(h.result()[0].is_same(later[0]));
}

TEST_CASE("a clone drops autograd like clone().detach(); conjugate and negative views are resolved") {
    tilecopy::CopyEngine engine;
    const at::Tensor leaf = at::randn({64, 33}).requires_grad_();
    const at::Tensor nonleaf = leaf * 3;
    for (const at::Tensor& t : {leaf, nonleaf, leaf.t()}) {
        const at::Tensor c = engine.clone(t);
        expect_clone_of(c, t);
        CHECK(c.is_leaf());
        CHECK(c._version() == t.clone()._version()); // 0: torch's clone writes below the version counter
    }
    CHECK(leaf.grad_fn() == nullptr);
    CHECK(!leaf.grad().defined());
    const at::Tensor z = at::randn({5, 6}, at::kComplexFloat);
    expect_clone_of(engine.clone(z.conj()), z.conj());
    expect_clone_of(engine.clone(at::imag(z.conj())), at::imag(z.conj())); // a negative view
    expect_clone_of(engine.clone_batch({z.conj(), z}).front(), z.conj());
}

TEST_CASE("clones made in InferenceMode are inference tensors, as torch's are") {
    tilecopy::CopyEngine engine;
    const at::Tensor t = at::randn({100});
    {
        c10::InferenceMode guard;
        const at::Tensor c = engine.clone(t);
        CHECK(c.is_inference() == t.clone().is_inference());
        CHECK(at::equal(c, t));
    }
    const at::Tensor c = engine.clone(t);
    CHECK(!c.is_inference());
}

TEST_CASE("clones own their memory: they outlive the engine, resize like torch's, work in a forked child") {
    at::Tensor c, b0, b1, like;
    const at::Tensor src = make_tensor(Layout::Contiguous, at::kFloat, {1 << 19}, Fill::ValuesNoNaN, 3); // 2 MiB
    {
        tilecopy::CopyEngine engine;
        c = engine.clone(src);
        const std::vector<at::Tensor> b = engine.clone_batch({src.narrow(0, 0, 100), src});
        b0 = b[0];
        b1 = b[1];
        like = engine.empty_like(src);
        REQUIRE(reinterpret_cast<std::uintptr_t>(like.data_ptr()) % 4096 == 0);
    }
    CHECK(at::equal(c, src));
    like.copy_(src);
    CHECK(at::equal(like, src));
    // One of a batch's tensors dies; the other keeps the shared allocation.
    b0 = at::Tensor();
    CHECK(at::equal(b1, src));
    // A resize moves the tensor into torch's allocator and keeps its values.
    b1.resize_({(1 << 19) + 1000});
    CHECK(at::equal(b1.narrow(0, 0, 1 << 19), src));

    // The child compares raw bytes: torch's own parallel ops are not for a forked child.
    const at::Tensor parents = c;
    CHECK(in_child([&] {
        if (std::memcmp(parents.data_ptr(), src.data_ptr(), src.nbytes()) != 0) return false;
        tilecopy::CopyEngine engine; // a child's own engine, and clones made and freed there
        at::Tensor mine = engine.clone(src);
        at::Tensor turned = engine.clone(src.view({1024, 512}).t());
        const bool ok = std::memcmp(mine.data_ptr(), src.data_ptr(), src.nbytes()) == 0 &&
                        std::memcmp(turned.data_ptr(), src.data_ptr(), src.nbytes()) == 0 &&
                        turned.strides() == src.view({1024, 512}).t().strides();
        mine = at::Tensor();
        turned = at::Tensor();
        return ok;
    }));
    CHECK(at::equal(c, src)); // the child's copy-on-write pages left the parent's alone
}

TEST_CASE("an engine from before fork() clones in the child") {
    tilecopy::CopyEngine engine;
    const at::Tensor src = make_tensor(Layout::Transposed, at::kDouble, {300, 400}, Fill::ValuesNoNaN, 5);
    expect_clone_of(engine.clone(src), src); // the workers run in the parent first
    CHECK(in_child([&] {
        const at::Tensor one = engine.clone(src);
        const std::vector<at::Tensor> two = engine.clone_batch_async({src, src.t()}).result();
        const std::size_t n = src.nbytes();
        return std::memcmp(one.data_ptr(), src.data_ptr(), n) == 0 &&
               std::memcmp(two[0].data_ptr(), src.data_ptr(), n) == 0 &&
               std::memcmp(two[1].data_ptr(), src.data_ptr(), n) == 0 && one.strides() == src.strides() &&
               two[1].strides() == src.t().strides();
    }));
}

TEST_CASE("tensors that are not strided CPU memory are refused by name, nothing changed") {
    tilecopy::CopyEngine engine;
    const at::Tensor plain = at::arange(24, at::kFloat).view({4, 6});
    const auto expect_refused = [&](const at::Tensor& bad, const std::string& why) {
        CAPTURE(why);
        const std::vector<unsigned char> before = logical_bytes(plain);
        const auto version = plain._version();
        for (const auto& call : std::vector<std::function<void()>>{
                 [&] { (void)engine.clone(bad); },
                 [&] { (void)engine.clone_async(bad); },
                 [&] { (void)engine.empty_like(bad); },
                 [&] { engine.prefault(bad); },
             }) {
            try {
                call();
                FAIL("not refused");
            } catch (const tilecopy::Error& e) {
                const std::string what = e.what();
                CHECK(what.find(why) != std::string::npos);
            }
        }
        try {
            (void)engine.clone_batch({plain, plain, bad});
            FAIL("not refused");
        } catch (const tilecopy::Error& e) {
            const std::string what = e.what();
            CHECK(what.find("(tensor 2 of the batch)") != std::string::npos);
            CHECK(what.find(why) != std::string::npos);
        }
        CHECK_THROWS_AS((void)engine.clone_batch_async({bad}), tilecopy::Error);
        CHECK(logical_bytes(plain) == before);
        CHECK(plain._version() == version);
    };
    expect_refused(at::Tensor(), "an undefined tensor");
    expect_refused(plain.to_sparse(), "its layout is Sparse");
    expect_refused(at::quantize_per_tensor(plain, 0.5, 0, at::kQUInt8), "it is quantized");
    expect_refused(at::empty({4, 6}, at::TensorOptions().device(at::kMeta)), "it is on meta");
    const std::vector<at::Dimname> names = {at::Dimname::fromSymbol(at::Symbol::dimname("a")),
                                            at::Dimname::fromSymbol(at::Symbol::dimname("b"))};
    const at::Tensor named = at::empty({2, 3}).refine_names(names);
    expect_refused(named, "it has dimension names");
}

TEST_CASE("prefault(tensor) leaves every value and the version as they were") {
    tilecopy::CopyEngine engine;
    const at::Tensor t = make_tensor(Layout::EveryOther, at::kFloat, {256, 300}, Fill::ValuesNoNaN, 9);
    const std::vector<unsigned char> before = storage_bytes(t);
    const auto version = t._version();
    engine.prefault(t);
    engine.prefault(t, false);
    engine.prefault(at::empty({0, 5}));
    CHECK(storage_bytes(t) == before);
    CHECK(t._version() == version);
    const at::Tensor fresh = engine.empty_like(t, tilecopy::AllocOptions{});
    engine.prefault(fresh);
    tilecopy::AllocOptions later;
    later.populate = tilecopy::Populate::FirstCopy;
    const at::Tensor unpopulated = engine.empty_like(t, later);
    engine.prefault(unpopulated, true);
    unpopulated.copy_(t);
    CHECK(at::equal(unpopulated, t));
}

TEST_CASE("the clone pool hands a dead clone's memory to the next clone of its size and options, bounded") {
    constexpr std::size_t MiB = std::size_t(1) << 20;
    tilecopy::Options options;
    options.clone_pool_bytes = 7 * MiB;
    options.huge_pages = tilecopy::HugePages::Auto;
    tilecopy::CopyEngine engine(options);
    const auto floats = [](std::size_t bytes) { return static_cast<std::int64_t>(bytes / 4); };
    const at::Tensor a = make_tensor(Layout::Contiguous, at::kFloat, {floats(3 * MiB)}, Fill::ValuesNoNaN, 7);
    const at::Tensor b = make_tensor(Layout::Contiguous, at::kFloat, {floats(3 * MiB)}, Fill::ValuesNoNaN, 8);
    REQUIRE(!at::equal(a, b));

    at::Tensor c = engine.clone(a);
    const void* first = c.data_ptr();
    c = at::Tensor(); // kept
    tilecopy::PoolStats s = engine.pool_stats();
    CHECK(s.kept == 1);
    CHECK(s.held_buffers == 1);
    CHECK(s.held_bytes == 3 * MiB);
    // The same size: the same memory, every byte the new source's (none of the old clone's).
    c = engine.clone(b);
    CHECK(c.data_ptr() == first);
    CHECK(engine.pool_stats().reused == 1);
    CHECK(engine.pool_stats().held_buffers == 0);
    CHECK(std::memcmp(c.data_ptr(), b.data_ptr(), b.nbytes()) == 0);
    expect_clone_of(c, b);
    c = at::Tensor();
    // Another layout of the same bytes, and empty_like, take it too; other options do not.
    c = engine.clone(b.view({1024, -1}).t());
    CHECK(engine.pool_stats().reused == 2);
    expect_clone_of(c, b.view({1024, -1}).t());
    c = at::Tensor();
    tilecopy::AllocOptions never;
    never.huge_pages = tilecopy::HugePages::Never;
    c = engine.clone(a, never);
    CHECK(engine.pool_stats().reused == 2);
    CHECK(at::equal(c, a));
    const std::uint64_t marked = engine.pool_stats().marked_free;
    c = at::Tensor(); // a second buffer of 3 MiB, its own key: on small pages, kept unmarked
    CHECK(engine.pool_stats().held_buffers == 2);
    CHECK(engine.pool_stats().marked_free == marked);
    at::Tensor e = engine.empty_like(a);
    CHECK(engine.pool_stats().reused == 3);
    e = at::Tensor();

    // Another size: a new buffer; 2 + 3 + 3 MiB held is over the bound (7 MiB): the oldest goes.
    c = engine.clone(a.narrow(0, 0, floats(2 * MiB)));
    CHECK(engine.pool_stats().reused == 3);
    c = at::Tensor();
    s = engine.pool_stats();
    CHECK(s.evicted == 1);
    CHECK(s.held_buffers == 2);
    CHECK(s.held_bytes == 5 * MiB);
    // Larger than the pool, or pages left to the copy's workers: unmapped at once.
    const at::Tensor big = make_tensor(Layout::Contiguous, at::kFloat, {floats(9 * MiB)}, Fill::ValuesNoNaN, 9);
    c = engine.clone(big);
    CHECK(at::equal(c, big));
    c = at::Tensor();
    tilecopy::AllocOptions copier;
    copier.placement = tilecopy::Placement::Copier;
    c = engine.clone(a, copier);
    c = at::Tensor();
    s = engine.pool_stats();
    CHECK(s.unmapped == 2);
    CHECK(s.held_buffers == 2);
    // A batch's one allocation goes back when its last tensor dies.
    std::vector<at::Tensor> batch = engine.clone_batch({a.narrow(0, 0, 1000), b.narrow(0, 0, 1000)});
    const std::size_t kept = engine.pool_stats().kept;
    batch[0] = at::Tensor();
    CHECK(engine.pool_stats().kept == kept);
    batch.clear();
    CHECK(engine.pool_stats().kept == kept + 1);
    s = engine.pool_stats();
    CHECK(engine.trim_pool() == s.held_bytes);
    CHECK(engine.pool_stats().held_buffers == 0);
    CHECK(engine.pool_stats().evicted == s.evicted + s.held_buffers);
}

TEST_CASE("without a pool, after their engine and in a forked child, a clone's memory is unmapped") {
    constexpr std::int64_t kFloats = 1 << 19; // 2 MiB
    const at::Tensor src = make_tensor(Layout::Contiguous, at::kFloat, {kFloats}, Fill::ValuesNoNaN, 4);
    tilecopy::Options off;
    off.clone_pool_bytes = 0;
    {
        tilecopy::CopyEngine engine(off);
        at::Tensor c = engine.clone(src);
        c = at::Tensor();
        const tilecopy::PoolStats s = engine.pool_stats();
        CHECK(s.limit_bytes == 0);
        CHECK(s.kept == 0);
        CHECK(s.unmapped == 1);
    }
    at::Tensor outlives;
    tilecopy::Options on;
    on.clone_pool_bytes = 64 << 20;
    auto engine = std::make_unique<tilecopy::CopyEngine>(on);
    outlives = engine->clone(src);
    at::Tensor held = engine->clone(src.view({2, -1}));
    const void* held_at = held.data_ptr();
    held = at::Tensor(); // one buffer held when the engine goes
    CHECK(engine->pool_stats().held_buffers == 1);
    at::Tensor parents = engine->clone(src.view({4, -1})); // takes the held buffer
    CHECK(parents.data_ptr() == held_at);
    held = engine->clone(src.view({2, -1}));
    held_at = held.data_ptr();
    held = at::Tensor(); // held again
    CHECK(in_child([&] {
        // The parent's clone dies here, and clones come and go: the child neither takes the
        // buffer its parent's pool holds nor keeps any (the pool's lock may be a parent's).
        parents = at::Tensor();
        at::Tensor mine = engine->clone(src);
        bool ok = mine.data_ptr() != held_at && std::memcmp(mine.data_ptr(), src.data_ptr(), src.nbytes()) == 0;
        mine = at::Tensor();
        mine = engine->clone(src);
        ok = ok && mine.data_ptr() != held_at && std::memcmp(mine.data_ptr(), src.data_ptr(), src.nbytes()) == 0;
        mine = at::Tensor();
        return ok && engine->pool_stats().held_buffers == 0;
    }));
    engine.reset(); // its pool and the buffer it held go
    CHECK(at::equal(outlives, src));
    outlives = at::Tensor(); // unmapped: the pool is gone
}
