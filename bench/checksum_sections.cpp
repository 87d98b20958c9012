#include "checksum_sections.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <tilecopy/checksum.hpp>

namespace bench {

namespace {

struct ChecksumBuffers {
    std::shared_ptr<BufferPair> pair;
    std::uint32_t expected[3] = {0, 0, 0}; // by Checksum value: the serial checksums of the source
    std::uint32_t result = 0;              // the last timed call's
};

std::shared_ptr<ChecksumBuffers> make_buffers(std::size_t bytes) {
    auto b = std::make_shared<ChecksumBuffers>();
    b->pair = std::make_shared<BufferPair>(bytes, 0, 0);
    for (tilecopy::Checksum k : {tilecopy::Checksum::crc32c, tilecopy::Checksum::crc32})
        b->expected[static_cast<int>(k)] = tilecopy::checksum_update(k, 0, b->pair->src(), bytes);
    return b;
}

std::string crc_text(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", v);
    return buf;
}

// A timed call that stores a checksum in b->result; verified against the serial one.
// `target`: the ratio to the section's reference the row must reach (0: none).
Variant checksum_variant(std::string label, const std::shared_ptr<ChecksumBuffers>& b, tilecopy::Checksum kind,
                         bool copies, double target, std::function<void()> call) {
    Variant v;
    v.method = "tilecopy";
    v.label = std::move(label);
    v.copy = call;
    v.reference = 0;
    v.target = target;
    v.verify = [b, kind, copies, call]() -> std::string {
        b->pair->clear_destination();
        b->result = ~b->expected[static_cast<int>(kind)];
        call();
        const char* why = nullptr;
        if (copies && !b->pair->destination_matches(&why)) return why;
        if (b->result != b->expected[static_cast<int>(kind)])
            return "checksum " + crc_text(b->result) + ", the serial one is " +
                   crc_text(b->expected[static_cast<int>(kind)]);
        return std::string();
    };
    return v;
}

// A section over `b` whose first variant, the reference, is tilecopy's copy of its pair.
Section against_copy(std::string name, std::string label, const std::shared_ptr<ChecksumBuffers>& b,
                     const Context& ctx) {
    Section s;
    s.name = std::move(name);
    s.size_bytes = s.src_bytes = s.dst_bytes = b->pair->bytes();
    tilecopy::CopyEngine* e = ctx.engine;
    BufferPair* p = b->pair.get();
    s.variants.push_back(byte_copy_variant("tilecopy", std::move(label), b->pair,
                                           [e, p] { e->copy(p->dst(), p->src(), p->bytes()); }));
    s.buffers = b;
    return s;
}

} // namespace

Section checksum_copy_section(std::size_t bytes, const Context& ctx) {
    auto b = make_buffers(bytes);
    Section s = against_copy("copy+crc", "tilecopy", b, ctx);
    tilecopy::CopyEngine* e = ctx.engine;
    BufferPair* p = b->pair.get();
    ChecksumBuffers* raw = b.get();
    // Issue targets: >= 0.9x the plain copy from 64 MiB on, >= 0.8x at 1-16 MiB.
    const double target = bytes >= (std::size_t(64) << 20) ? 0.9 : bytes >= (std::size_t(1) << 20) ? 0.8 : 0;
    for (auto [kind, label] : {std::pair{tilecopy::Checksum::crc32c, "tilecopy+crc32c"},
                               std::pair{tilecopy::Checksum::crc32, "tilecopy+crc32"}})
        s.variants.push_back(checksum_variant(label, b, kind, true, target, [e, p, raw, kind = kind] {
            raw->result = e->copy(p->dst(), p->src(), p->bytes(), kind);
        }));
    return s;
}

Section checksum_section(std::size_t bytes, const Context& ctx) {
    auto b = make_buffers(bytes);
    Section s = against_copy("checksum", "tilecopy copy", b, ctx);
    tilecopy::CopyEngine* e = ctx.engine;
    BufferPair* p = b->pair.get();
    ChecksumBuffers* raw = b.get();
    // Issue target: the checksum of 1 GiB >= 0.9x the engine's copy of the same bytes.
    const double target = bytes >= (std::size_t(1) << 30) ? 0.9 : 0;
    for (auto [kind, label] : {std::pair{tilecopy::Checksum::crc32c, "checksum crc32c"},
                               std::pair{tilecopy::Checksum::crc32, "checksum crc32"}})
        s.variants.push_back(checksum_variant(label, b, kind, false, target, [e, p, raw, kind = kind] {
            raw->result = e->checksum(p->src(), p->bytes(), kind);
        }));
    s.variants.push_back(checksum_variant("crc32 one thread", b, tilecopy::Checksum::crc32, false, 0, [p, raw] {
        raw->result = tilecopy::checksum_update(tilecopy::Checksum::crc32, 0, p->src(), p->bytes());
    }));
    return s;
}

} // namespace bench
