// Copies as a trainer issues them: one at a time after idleness or right after a torch op, and
// into destination pages never touched before (issue 10). Each is one timed call per round.
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <memory>
#include <string>
#include <sys/mman.h>

#include <ATen/ATen.h>

#include "baselines.hpp"
#include "sections.hpp"

namespace bench {

namespace {

// `engine`'s options with every copy on the caller's thread; made once, kept for the process.
tilecopy::CopyEngine* inline_engine(const tilecopy::CopyEngine& engine) {
    static tilecopy::CopyEngine* forced = [&engine] {
        tilecopy::Options o = engine.options();
        o.inline_threshold = o.idle_inline_threshold = std::numeric_limits<std::size_t>::max();
        return new tilecopy::CopyEngine(o);
    }();
    return forced;
}

// Labels read "<method> <condition>". Every method runs each condition; tilecopy's row is divided,
// round by round, by the fastest other method of the same condition (memcpy, copy_, and from
// 1 MiB the OpenMP copy), and carries the condition's target.
void add_condition(Section& s, const std::shared_ptr<BufferPair>& pair, const Context& ctx, const Condition& c) {
    BufferPair* p = pair.get();
    const std::size_t first = s.variants.size();
    int tilecopy_row = -1;
    auto add = [&](Variant v) {
        v.label += " " + c.name;
        v.timing = Timing::Cold;
        v.idle_ms = c.idle_ms;
        v.lead_in = c.lead_in;
        v.prepare = c.prepare;
        s.variants.push_back(std::move(v));
    };
    add(byte_copy_variant("memcpy", "memcpy", pair, [p] { std::memcpy(p->dst(), p->src(), p->bytes()); }));
    if (ctx.methods.torch) {
        const auto count = static_cast<std::int64_t>(p->bytes());
        auto dst = at::from_blob(p->dst(), {count}, at::kByte);
        auto src = at::from_blob(p->src(), {count}, at::kByte);
        add(byte_copy_variant("torch", "torch copy_", pair, [dst, src]() mutable { dst.copy_(src); }));
    }
    if (ctx.methods.omp && p->bytes() >= (std::size_t(1) << 20)) {
        const int threads = ctx.threads;
        add(byte_copy_variant("omp", "omp", pair, [threads, p] { omp_tiled_copy(p->dst(), p->src(), p->bytes(), threads); }));
    }
    if (ctx.methods.tilecopy) {
        tilecopy::CopyEngine* engine = ctx.engine;
        tilecopy_row = static_cast<int>(s.variants.size());
        add(byte_copy_variant("tilecopy", "tilecopy", pair, [engine, p] { engine->copy(p->dst(), p->src(), p->bytes()); }));
    }
    if (tilecopy_row < 0)
        return;
    const std::size_t others_end = s.variants.size();
    // From 1 MiB, the engine forced to run every copy on the caller: whether running inline or
    // with the helpers decides a row shows beside it (no target; the same best other).
    if (p->bytes() >= (std::size_t(1) << 20)) {
        tilecopy::CopyEngine* forced = inline_engine(*ctx.engine);
        add(byte_copy_variant("tilecopy", "tilecopy forced inline", pair,
                              [forced, p] { forced->copy(p->dst(), p->src(), p->bytes()); }));
    }
    Variant& t = s.variants[static_cast<std::size_t>(tilecopy_row)];
    t.target = c.target;
    for (std::size_t i = first; i < others_end; ++i)
        if (static_cast<int>(i) != tilecopy_row)
            t.best_of.push_back(static_cast<int>(i));
    for (std::size_t i = others_end; i < s.variants.size(); ++i)
        s.variants[i].best_of = t.best_of;
}

// A destination mapped anew before every call: each of its pages faults on first write.
class FreshDestination {
public:
    explicit FreshDestination(std::size_t bytes) : bytes_(bytes) { renew(); }
    ~FreshDestination() { release(); }
    void renew() {
        release();
        void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            throw std::bad_alloc();
        data_ = static_cast<unsigned char*>(p);
    }
    unsigned char* data() const noexcept { return data_; }

private:
    void release() noexcept {
        if (data_)
            ::munmap(data_, bytes_);
        data_ = nullptr;
    }
    std::size_t bytes_;
    unsigned char* data_ = nullptr;
};

} // namespace

Condition idle_condition(double ms, double target) {
    return Condition{"after " + std::to_string(static_cast<int>(ms)) + " ms idle", ms, 0, nullptr, target};
}

Condition stream_condition(double gap_ms, double target) {
    // Three untimed copies by the same method first, each followed by the gap: the timed one is
    // one of a stream, whatever ran in the other methods' turns.
    return Condition{"one copy after " + std::to_string(static_cast<int>(gap_ms)) + " ms", gap_ms, 3, nullptr, target};
}

Condition torch_op_condition(double target) {
    // A training step: 20 ms elsewhere, then an elementwise op on 4 MiB (torch's threads run
    // it and spin afterwards), then the copy.
    auto a = std::make_shared<at::Tensor>(at::ones({1 << 20}, at::kFloat));
    auto b = std::make_shared<at::Tensor>(at::ones({1 << 20}, at::kFloat));
    return Condition{"after a torch op", 20.0, 0, [a, b] { a->add_(*b); }, target}; // the closure keeps a, b
}

Section isolated_section(std::size_t bytes, const Context& ctx, const std::vector<Condition>& conditions) {
    Section s;
    s.name = "isolated";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    s.buffers = pair;
    for (const Condition& c : conditions)
        add_condition(s, pair, ctx, c);
    return s;
}

Section fresh_pages_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "fresh pages";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    auto fresh = std::make_shared<FreshDestination>(bytes);
    FreshDestination* f = fresh.get();
    const unsigned char* src = pair->src();
    auto variant = [&](std::string method, std::string label, std::function<void()> copy) {
        Variant v;
        v.method = std::move(method);
        v.label = std::move(label) + " into fresh pages";
        v.copy = copy;
        v.verify = [f, src, bytes, copy]() -> std::string {
            f->renew();
            copy();
            return std::memcmp(f->data(), src, bytes) == 0 ? std::string() : std::string("destination differs from source");
        };
        v.timing = Timing::Cold;
        v.idle_ms = 1;
        v.prepare = [f] { f->renew(); }; // untimed: the mapping; timed: the faults on first write
        if (!s.variants.empty())
            v.best_of = {0}; // memcpy; copy_ joins below
        s.variants.push_back(std::move(v));
    };
    variant("memcpy", "memcpy", [f, src, bytes] { std::memcpy(f->data(), src, bytes); });
    if (ctx.methods.tilecopy) {
        tilecopy::CopyEngine* engine = ctx.engine;
        variant("tilecopy", "tilecopy", [engine, f, src, bytes] { engine->copy(f->data(), src, bytes); });
    }
    if (ctx.methods.torch) {
        const auto count = static_cast<std::int64_t>(bytes);
        auto from = at::from_blob(const_cast<unsigned char*>(src), {count}, at::kByte);
        variant("torch", "torch copy_", [f, from, count] { at::from_blob(f->data(), {count}, at::kByte).copy_(from); });
        if (ctx.methods.tilecopy) {
            s.variants[1].best_of = {0, 2}; // tilecopy: the better of memcpy and copy_
            s.variants[2].best_of.clear();
            s.variants[2].reference = 0;
        }
    }
    s.buffers = std::make_shared<std::pair<std::shared_ptr<BufferPair>, std::shared_ptr<FreshDestination>>>(pair, fresh);
    return s;
}

} // namespace bench
