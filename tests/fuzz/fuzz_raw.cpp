// libFuzzer target for raw copies: sizes, offsets, kernels and engine options from the input;
// synchronous, asynchronous and batched forms; overlapping, null and wrapping requests. All
// copies go within one guarded arena, and after every input the whole arena must equal a
// reference copy made with memcpy (or the scalar conversion kernels), canaries intact. A
// rejected request must throw tilecopy::Error and leave the arena exactly as it was.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <tilecopy/tilecopy.hpp>

#include "engine_cache.hpp"
#include "kernels/kernels.hpp"
#include "support.hpp"

using namespace tilecopy;
using tilecopy::fuzz::fail;

namespace {

struct Arena {
    test::GuardedBuffer buffer;
    std::vector<unsigned char> expected;

    // `expected` is never empty, so that its data() is never null (memcpy of 0 bytes included).
    Arena(std::size_t bytes, std::uint32_t seed) : buffer(bytes, seed % 64), expected(bytes + 1) {
        test::fill_pattern(buffer.data(), bytes, seed);
        std::memcpy(expected.data(), buffer.data(), bytes);
    }
    unsigned char* at(std::size_t offset) { return buffer.data() + offset; }

    void check(const std::string& what) const {
        if (!buffer.canaries_intact()) fail(what + ": a canary byte around the arena changed");
        for (std::size_t i = 0; i < buffer.size(); ++i)
            if (buffer.data()[i] != expected[i])
                fail(what + ": arena byte " + std::to_string(i) + " is " + std::to_string(buffer.data()[i]) +
                     ", expected " + std::to_string(expected[i]));
    }
};

std::size_t consume_size(FuzzedDataProvider& in) {
    static constexpr std::size_t kClassMax[] = {256, 4096, 65536, 300000};
    return in.ConsumeIntegralInRange<std::size_t>(0, kClassMax[in.ConsumeIntegralInRange(0, 3)]);
}

bool overlaps(std::size_t a, std::size_t a_bytes, std::size_t b, std::size_t b_bytes) {
    return a_bytes && b_bytes && a < b + b_bytes && b < a + a_bytes;
}

// Runs `request`, which must throw tilecopy::Error whose message contains `needle`.
template <typename Fn>
void expect_rejection(const std::string& what, const std::string& needle, Fn&& request) {
    try {
        request();
    } catch (const Error& e) {
        if (std::string(e.what()).find(needle) == std::string::npos)
            fail(what + ": error message '" + e.what() + "' does not mention '" + needle + "'");
        return;
    }
    fail(what + ": accepted");
}

void reference(Conversion conversion, unsigned char* dst, const unsigned char* src, std::size_t count) {
    const kernels::KernelSet& k = kernels::scalar::kernel_set;
    switch (conversion) {
    case Conversion::None: std::memcpy(dst, src, count); return;
    case Conversion::F32ToBF16: k.f32_to_bf16(dst, src, count); return;
    case Conversion::BF16ToF32: k.bf16_to_f32(dst, src, count); return;
    case Conversion::F32ToF16: k.f32_to_f16(dst, src, count); return;
    case Conversion::F16ToF32: k.f16_to_f32(dst, src, count); return;
    }
}

// One copy between two offsets of the arena, synchronous or asynchronous; overlapping ranges
// must be refused.
void single_copy(CopyEngine& engine, FuzzedDataProvider& in, bool async) {
    const std::size_t bytes = consume_size(in);
    const std::size_t slack = in.ConsumeIntegralInRange<std::size_t>(0, 4096);
    Arena arena(bytes + slack, in.ConsumeIntegral<std::uint32_t>());
    const std::size_t src = in.ConsumeIntegralInRange<std::size_t>(0, slack);
    const std::size_t dst = in.ConsumeIntegralInRange<std::size_t>(0, slack);
    const std::string what = std::string(async ? "copy_async" : "copy") + " of " + std::to_string(bytes) +
                             " bytes from offset " + std::to_string(src) + " to " + std::to_string(dst);
    if (overlaps(src, bytes, dst, bytes)) {
        expect_rejection(what, "overlap", [&] {
            if (async)
                engine.copy_async(arena.at(dst), arena.at(src), bytes).wait();
            else
                engine.copy(arena.at(dst), arena.at(src), bytes);
        });
    } else {
        std::memcpy(arena.expected.data() + dst, arena.expected.data() + src, bytes);
        if (async) {
            CopyHandle handle = engine.copy_async(arena.at(dst), arena.at(src), bytes);
            handle.wait();
            if (!handle.done() || handle.bytes_copied() != bytes || handle.bytes_total() != bytes)
                fail(what + ": the handle reports " + std::to_string(handle.bytes_copied()) + " of " +
                     std::to_string(handle.bytes_total()) + " bytes after wait()");
        } else {
            engine.copy(arena.at(dst), arena.at(src), bytes);
        }
    }
    arena.check(what);
}

// The pairs of regions (i < j) of which one's destination overlaps the other's destination
// or source, and the first region whose own source and destination overlap (or SIZE_MAX).
struct Overlaps {
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    std::size_t self = SIZE_MAX;
};

Overlaps find_overlaps(const std::vector<Region>& regions, std::size_t des, std::size_t ses) {
    auto at = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
    auto meet = [](std::uintptr_t a, std::size_t an, std::uintptr_t b, std::size_t bn) {
        return an && bn && a < b + bn && b < a + an;
    };
    Overlaps found;
    for (std::size_t i = 0; i < regions.size(); ++i) {
        const Region& a = regions[i];
        if (found.self == SIZE_MAX && meet(at(a.dst), a.count * des, at(a.src), a.count * ses)) found.self = i;
        for (std::size_t j = i + 1; j < regions.size(); ++j) {
            const Region& b = regions[j];
            if (meet(at(a.dst), a.count * des, at(b.dst), b.count * des) ||
                meet(at(a.dst), a.count * des, at(b.src), b.count * ses) ||
                meet(at(b.dst), b.count * des, at(a.src), a.count * ses))
                found.pairs.emplace_back(i, j);
        }
    }
    return found;
}

// Regions with sources in the arena's first half and disjoint destinations in its second,
// optionally one or two bad regions among them, or one whose destination was moved onto another
// region's destination or source: then nothing at all may be written (the whole arena is
// compared), and an accepted batch must equal the regions copied in order.
void batch_copy(CopyEngine& engine, FuzzedDataProvider& in, int form) {
    const auto conversion = static_cast<Conversion>(in.ConsumeIntegralInRange(0, 4));
    const std::size_t des = dst_element_size(conversion), ses = src_element_size(conversion);
    const std::size_t count = in.ConsumeIntegralInRange<std::size_t>(1, 16);
    const std::size_t half = consume_size(in) + 64;
    Arena arena(2 * half, in.ConsumeIntegral<std::uint32_t>());
    std::vector<Region> regions;
    std::size_t cursor = half;
    std::uint64_t dst_bytes = 0;
    for (std::size_t i = 0; i < count && in.remaining_bytes(); ++i) {
        cursor += in.ConsumeIntegralInRange<std::size_t>(0, 70);
        const std::size_t room = std::min((2 * half - std::min(cursor, 2 * half)) / des, half / ses);
        const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, room);
        const std::size_t src = in.ConsumeIntegralInRange<std::size_t>(0, half - n * ses);
        regions.push_back(Region{arena.at(cursor), arena.at(src), n});
        cursor += n * des;
        dst_bytes += n * des;
    }
    if (regions.empty()) return;

    // 0-3: none; 4-7: one bad region; 8-9: one region's destination onto another's
    // destination (8) or source (9).
    int fault = in.ConsumeIntegralInRange(0, 9);
    const std::size_t bad = in.ConsumeIntegralInRange<std::size_t>(0, regions.size() - 1);
    std::string needle;
    std::vector<std::string> needles; // for fault 8-9: any one of them
    if (fault >= 8) {
        const std::size_t other = in.ConsumeIntegralInRange<std::size_t>(0, regions.size() - 1);
        Region& r = regions[bad];
        const Region& o = regions[other];
        const std::size_t o_bytes = o.count * (fault == 8 ? des : ses);
        if (other == bad || o_bytes == 0) {
            fault = 0;
        } else {
            const Region original = r;
            if (r.count == 0) r.count = 1;
            char* base = static_cast<char*>(fault == 8 ? o.dst : const_cast<void*>(o.src));
            // Start up to one element before the other span's end, or a little before it.
            const std::size_t back = std::min<std::size_t>(r.count * des - 1, 64);
            const std::size_t offset = in.ConsumeIntegralInRange<std::size_t>(0, o_bytes - 1 + back);
            r.dst = base + offset - back;
            if (static_cast<unsigned char*>(r.dst) < arena.at(0) ||
                static_cast<unsigned char*>(r.dst) + r.count * des > arena.at(0) + 2 * half) {
                r = original; // it would leave the arena: no fault after all
                fault = 0;
            }
        }
        if (fault >= 8) {
            const Overlaps found = find_overlaps(regions, des, ses);
            if (found.self != SIZE_MAX) {
                needles.push_back("region " + std::to_string(found.self) + ": ");
            } else {
                for (const auto& [i, j] : found.pairs)
                    needles.push_back("regions " + std::to_string(i) + " and " + std::to_string(j) + " overlap");
            }
            if (needles.empty()) fail("batch fault " + std::to_string(fault) + " made no overlap");
            fault = 8;
        }
    }
    if (fault >= 4 && fault < 8) {
        Region& r = regions[bad];
        if (r.count == 0) r.count = 1;
        if (fault == 4) {
            r.src = static_cast<unsigned char*>(r.dst) + in.ConsumeIntegralInRange<std::size_t>(0, r.count * des - 1);
            needle = "overlap";
        } else if (fault == 5) {
            r.dst = nullptr;
            needle = "null destination";
        } else if (fault == 6) {
            r.src = nullptr;
            needle = "null source";
        } else {
            r.dst = reinterpret_cast<void*>(std::numeric_limits<std::uintptr_t>::max() - 8);
            r.count = std::max<std::size_t>(r.count, 64);
            needle = "past the end of the address space";
        }
        std::size_t first_bad = bad;
        // Now and then a second refused region among the accepted ones: the first is named.
        const std::size_t second = in.ConsumeIntegralInRange<std::size_t>(0, regions.size() - 1);
        if (second != bad && in.ConsumeBool()) {
            Region& s = regions[second];
            if (s.count == 0) s.count = 1;
            s.src = nullptr;
            first_bad = std::min(bad, second);
        }
        if (regions.size() > 1) needle = "region " + std::to_string(first_bad) + ": ";
    }
    const std::string what = "batch (form " + std::to_string(form) + ", conversion " +
                             std::to_string(static_cast<int>(conversion)) + ") of " + std::to_string(regions.size()) +
                             " regions";
    auto run = [&] {
        if (form == 0) {
            engine.copy_batch(regions, conversion);
        } else if (form == 1) {
            engine.copy_regions(regions.data(), regions.size(), conversion);
        } else {
            CopyHandle handle = engine.copy_batch_async(regions, conversion);
            handle.wait();
            if (handle.bytes_copied() != dst_bytes || handle.bytes_total() != dst_bytes)
                fail(what + ": the handle reports " + std::to_string(handle.bytes_copied()) + " of " +
                     std::to_string(handle.bytes_total()) + " bytes, expected " + std::to_string(dst_bytes));
        }
    };
    if (fault >= 8) {
        try {
            run();
            fail(what + ": regions overlapping each other were accepted");
        } catch (const Error& e) {
            bool named = false;
            for (const auto& n : needles) named = named || std::string(e.what()).find(n) != std::string::npos;
            if (!named) fail(what + ": error message '" + e.what() + "' names no overlapping pair (first: '" + needles[0] + "')");
        }
    } else if (fault >= 4) {
        expect_rejection(what, needle, run);
    } else {
        for (const Region& r : regions)
            reference(conversion, arena.expected.data() + (static_cast<unsigned char*>(r.dst) - arena.at(0)),
                      arena.expected.data() + (static_cast<const unsigned char*>(r.src) - arena.at(0)), r.count);
        run();
    }
    arena.check(what);
}

// Up to four asynchronous copies in flight at once into separate quarters of the
// destination half, with a synchronous copy into the last quarter meanwhile; handles are
// waited on in any order, moved, or simply dropped (their destructor waits).
void concurrent_copies(CopyEngine& engine, FuzzedDataProvider& in) {
    const std::size_t quarter = consume_size(in) / 4 + 1;
    Arena arena(8 * quarter, in.ConsumeIntegral<std::uint32_t>());
    const std::size_t jobs = in.ConsumeIntegralInRange<std::size_t>(1, 3);
    std::vector<CopyHandle> handles;
    for (std::size_t j = 0; j < jobs; ++j) {
        const std::size_t bytes = in.ConsumeIntegralInRange<std::size_t>(0, quarter);
        const std::size_t src = in.ConsumeIntegralInRange<std::size_t>(0, 4 * quarter - bytes);
        const std::size_t dst = 4 * quarter + j * quarter + in.ConsumeIntegralInRange<std::size_t>(0, quarter - bytes);
        std::memcpy(arena.expected.data() + dst, arena.expected.data() + src, bytes);
        handles.push_back(engine.copy_async(arena.at(dst), arena.at(src), bytes));
    }
    const std::size_t bytes = in.ConsumeIntegralInRange<std::size_t>(0, quarter);
    const std::size_t src = in.ConsumeIntegralInRange<std::size_t>(0, 4 * quarter - bytes);
    std::memcpy(arena.expected.data() + 7 * quarter, arena.expected.data() + src, bytes);
    engine.copy(arena.at(7 * quarter), arena.at(src), bytes);
    while (!handles.empty()) {
        const std::size_t pick = in.ConsumeIntegralInRange<std::size_t>(0, handles.size() - 1);
        switch (in.ConsumeIntegralInRange(0, 2)) {
        case 0: handles[pick].wait(); break;
        case 1: {
            CopyHandle moved = std::move(handles[pick]);
            moved.wait();
            if (!handles[pick].done()) fail("a moved-from handle is not done");
            break;
        }
        default: break; // dropped below: its destructor waits
        }
        handles.erase(handles.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    arena.check("concurrent asynchronous copies");
}

// Requests with no valid memory at all: null pointers, zero sizes, unknown conversions.
void degenerate_requests(CopyEngine& engine, FuzzedDataProvider& in) {
    unsigned char byte = 0x5A;
    const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, std::numeric_limits<std::size_t>::max());
    switch (in.ConsumeIntegralInRange(0, 6)) {
    case 0:
        engine.copy(nullptr, nullptr, 0);
        engine.copy_async(nullptr, nullptr, 0).wait();
        engine.copy_regions(nullptr, 0);
        engine.copy_batch_async({}).wait();
        break;
    case 1: expect_rejection("copy to null", "null destination", [&] { engine.copy(nullptr, &byte, n); }); break;
    case 2: expect_rejection("copy from null", "null source", [&] { engine.copy(&byte, nullptr, n); }); break;
    case 3:
        expect_rejection("copy_regions(nullptr, n)", "null region array",
                         [&] { engine.copy_regions(nullptr, n % 100 + 1); });
        break;
    case 4: {
        const auto bogus = static_cast<Conversion>(in.ConsumeIntegralInRange(5, 255));
        std::vector<Region> one{Region{&byte, &byte + 1, 0}};
        expect_rejection("unknown conversion", "unknown Conversion", [&] { engine.copy_batch(one, bogus); });
        expect_rejection("unknown conversion (async)", "unknown Conversion",
                         [&] { engine.copy_batch_async(one, bogus).wait(); });
        break;
    }
    case 5: {
        // Ranges that would wrap around the address space are refused before any access.
        const auto top = std::numeric_limits<std::uintptr_t>::max();
        auto* high = reinterpret_cast<void*>(top - in.ConsumeIntegralInRange<std::uintptr_t>(0, 4096));
        expect_rejection("wrapping copy", "past the end", [&] { engine.copy(high, &byte, 8192); });
        break;
    }
    default:
        if (byte != 0x5A) fail("a rejected request wrote to its source");
        expect_rejection("copy onto itself", "overlap", [&] { engine.copy(&byte, &byte, 1); });
        break;
    }
    if (byte != 0x5A) fail("a rejected request wrote to memory");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    fuzz::EngineKey key;
    key.kernel = in.ConsumeIntegralInRange<std::size_t>(0, fuzz::supported_kernels().size() - 1);
    key.tile = in.ConsumeIntegralInRange<std::size_t>(0, 2);
    key.block = in.ConsumeIntegralInRange<std::size_t>(0, 2);
    key.inline_threshold = in.ConsumeIntegralInRange<std::size_t>(0, 1);
    key.nontemporal = in.ConsumeIntegralInRange<std::size_t>(0, 2);
    CopyEngine& engine = fuzz::engine_for(key);
    switch (in.ConsumeIntegralInRange(0, 6)) {
    case 0: single_copy(engine, in, false); break;
    case 1: single_copy(engine, in, true); break;
    case 2: batch_copy(engine, in, 0); break;
    case 3: batch_copy(engine, in, 1); break;
    case 4: batch_copy(engine, in, 2); break;
    case 5: concurrent_copies(engine, in); break;
    default: degenerate_requests(engine, in); break;
    }
    return 0;
}
