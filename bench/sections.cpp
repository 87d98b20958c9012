#include "sections.hpp"

#include <cstring>
#include <utility>

#include "baselines.hpp"
#include "limit.hpp"

namespace bench {

namespace {

int index_of(const Section& section, const std::string& label) {
    for (std::size_t i = 0; i < section.variants.size(); ++i)
        if (section.variants[i].label == label)
            return static_cast<int>(i);
    return -1;
}

Variant tilecopy_variant(std::string label, const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    tilecopy::CopyEngine* engine = ctx.engine;
    BufferPair* p = pair.get();
    return byte_copy_variant("tilecopy", std::move(label), pair,
                             [engine, p] { engine->copy(p->dst(), p->src(), p->bytes()); });
}

Variant omp_variant(std::string label, const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    int threads = ctx.threads;
    BufferPair* p = pair.get();
    return byte_copy_variant("omp", std::move(label), pair,
                             [threads, p] { omp_tiled_copy(p->dst(), p->src(), p->bytes(), threads); });
}

// One aligned pair and one `other` pair, tilecopy on both, the second divided by the first.
Section tilecopy_against_aligned(std::string name, std::string label, std::size_t bytes,
                                 std::size_t src_offset, std::size_t dst_offset, const Context& ctx) {
    Section s;
    s.name = std::move(name);
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto aligned = std::make_shared<BufferPair>(bytes, 0, 0);
    auto other = std::make_shared<BufferPair>(bytes, src_offset, dst_offset);
    s.variants.push_back(tilecopy_variant("tilecopy aligned", aligned, ctx));
    s.variants.push_back(tilecopy_variant(std::move(label), other, ctx));
    s.variants[1].reference = 0;
    s.buffers = std::make_shared<std::pair<std::shared_ptr<BufferPair>, std::shared_ptr<BufferPair>>>(aligned, other);
    return s;
}

} // namespace

Variant byte_copy_variant(std::string method, std::string label, std::shared_ptr<BufferPair> pair,
                          std::function<void()> copy) {
    Variant v;
    v.method = std::move(method);
    v.label = std::move(label);
    v.copy = copy;
    v.verify = [pair, copy]() -> std::string {
        pair->clear_destination();
        copy();
        const char* why = nullptr;
        return pair->destination_matches(&why) ? std::string() : std::string(why);
    };
    return v;
}

Section copy_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "copy";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    s.buffers = pair;
    BufferPair* p = pair.get();
    if (ctx.methods.memcpy)
        s.variants.push_back(byte_copy_variant("memcpy", "memcpy", pair,
                                               [p] { std::memcpy(p->dst(), p->src(), p->bytes()); }));
    if (ctx.methods.torch)
        add_torch_copy_variant(s, pair, ctx);
    if (ctx.methods.omp)
        s.variants.push_back(omp_variant("omp", pair, ctx));
    if (ctx.methods.tilecopy)
        s.variants.push_back(tilecopy_variant("tilecopy", pair, ctx));
    // Forced store kinds beside the default, each divided by the default's figure.
    if (ctx.methods.tilecopy && bytes >= (std::size_t(16) << 20)) {
        const int def = static_cast<int>(s.variants.size()) - 1;
        for (auto [engine, label] : {std::pair{ctx.forced_regular, "tilecopy forced regular"},
                                     std::pair{ctx.forced_nt, "tilecopy forced NT"}}) {
            if (!engine) continue;
            s.variants.push_back(byte_copy_variant("tilecopy", label, pair,
                                                   [engine, p] { engine->copy(p->dst(), p->src(), p->bytes()); }));
            s.variants.back().reference = def;
        }
    }
    add_limit_variant(s, pair, ctx);
    if (ctx.methods.tilecopy_tensor)
        add_tilecopy_tensor_variant(s, pair, ctx);
    int reference = index_of(s, "tilecopy");
    for (std::size_t i = 0; i < s.variants.size(); ++i)
        if (static_cast<int>(i) != reference && s.variants[i].method != "tilecopy")
            s.variants[i].reference = reference;
    // tilecopy's own row: against the best of the other methods in each round. From 16 MiB on
    // it leads them (docs/benchmarks.md, "Targets"): the target is to keep leading.
    if (reference >= 0) {
        Variant& t = s.variants[static_cast<std::size_t>(reference)];
        for (const char* other : {"memcpy", "torch copy_", "omp"})
            if (int i = index_of(s, other); i >= 0)
                t.best_of.push_back(i);
        if (bytes >= (std::size_t(16) << 20))
            t.target = 1.0;
    }
    return s;
}

Section misaligned_section(std::size_t bytes, std::size_t src_offset, std::size_t dst_offset, const Context& ctx) {
    std::string label = "tilecopy src+" + std::to_string(src_offset) + " dst+" + std::to_string(dst_offset);
    return tilecopy_against_aligned("misaligned", std::move(label), bytes, src_offset, dst_offset, ctx);
}

Section aliased_section(std::size_t bytes, const Context& ctx) {
    return tilecopy_against_aligned("4k-aliased", "tilecopy dst-src=64 mod 4K", bytes, 0, 64, ctx);
}

Section cold_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "cold";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    s.buffers = pair;
    auto add_pair = [&](Variant warm, Variant cold) {
        int warm_index = static_cast<int>(s.variants.size());
        warm.label += " warm";
        cold.label += " cold";
        cold.timing = Timing::Cold;
        cold.reference = warm_index;
        s.variants.push_back(std::move(warm));
        s.variants.push_back(std::move(cold));
    };
    if (ctx.methods.tilecopy)
        add_pair(tilecopy_variant("tilecopy", pair, ctx), tilecopy_variant("tilecopy", pair, ctx));
    if (ctx.methods.omp)
        add_pair(omp_variant("omp", pair, ctx), omp_variant("omp", pair, ctx));
    // The warm OpenMP figure is also worth reading against warm tilecopy.
    int tilecopy_warm = index_of(s, "tilecopy warm");
    int omp_warm = index_of(s, "omp warm");
    if (omp_warm >= 0)
        s.variants[static_cast<std::size_t>(omp_warm)].reference = tilecopy_warm;
    return s;
}

} // namespace bench
