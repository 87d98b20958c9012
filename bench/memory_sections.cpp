#include "memory_sections.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace bench {

namespace {

// AnonHugePages of the whole process, in KiB (/proc/self/smaps_rollup); -1 when unreadable.
long anon_huge_kib() {
    std::ifstream in("/proc/self/smaps_rollup");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("AnonHugePages:", 0) == 0) return std::atol(line.c_str() + 14);
    return -1;
}

// Memory made anew before each timed call; what it was granted in huge pages is counted when it
// goes (untimed), as the drop in the process's AnonHugePages.
struct FreshMemory {
    std::size_t bytes = 0;
    void* map = nullptr;                 // an mmap'd region, or
    tilecopy::HostBuffer buffer;         // an engine's allocation
    std::vector<double> granted_mib;

    explicit FreshMemory(std::size_t n) : bytes(n) {}
    ~FreshMemory() { release(false); }
    void release(bool count) {
        if (!map && !buffer.data()) return;
        const long before = count ? anon_huge_kib() : -1;
        if (map) ::munmap(map, bytes);
        map = nullptr;
        buffer = tilecopy::HostBuffer();
        if (before >= 0) granted_mib.push_back(double(before - anon_huge_kib()) / 1024.0);
    }
    void renew(int extra_flags = 0) {
        release(true);
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        map = p;
    }
    unsigned char* data() const {
        return static_cast<unsigned char*>(buffer.data() ? buffer.data() : map);
    }
};

bool all_resident(const void* p, std::size_t n) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((n + page - 1) / page);
    if (::mincore(const_cast<void*>(p), n, vec.data()) != 0) return false;
    for (unsigned char v : vec)
        if (!(v & 1)) return false;
    return true;
}

Variant warm_reference(const std::shared_ptr<BufferPair>& pair, const Context& ctx) {
    tilecopy::CopyEngine* engine = ctx.engine;
    BufferPair* p = pair.get();
    return byte_copy_variant("tilecopy", "tilecopy warm copy", pair,
                             [engine, p] { engine->copy(p->dst(), p->src(), p->bytes()); });
}

// A cold variant (one timed call per round) on fresh memory `m`: `prepare` untimed, `run` timed,
// `check` after one untimed run says what is wrong ("" when right).
Variant fresh_variant(std::string method, std::string label, std::function<void()> prepare, std::function<void()> run,
                      std::function<std::string()> check) {
    Variant v;
    v.method = std::move(method);
    v.label = std::move(label);
    v.copy = run;
    v.prepare = prepare;
    v.verify = [prepare, run, check] {
        prepare();
        run();
        return check();
    };
    v.timing = Timing::Cold;
    v.idle_ms = 1;
    v.reference = 0; // the warm copy, always the section's first variant
    return v;
}

using FreshList = std::vector<std::pair<std::string, std::shared_ptr<FreshMemory>>>;

// Before a variant's call: every fresh memory of the section goes (its grant counted), so that
// one at a time is resident.
void release_all(const FreshList& all) {
    for (const auto& entry : all) entry.second->release(true);
}

// Adds a fresh variant on a memory of its own (listed in `all`, all of the section's size):
// before each call every memory of the section goes, then `prepare` (untimed), `run` (timed);
// `check` says what is wrong after one untimed run ("" when right).
void add_fresh(Section& s, const std::shared_ptr<FreshList>& all, std::string method, std::string label,
               std::function<void(FreshMemory&)> prepare, std::function<void(FreshMemory&)> run,
               std::function<std::string(const FreshMemory&)> check) {
    auto m = std::make_shared<FreshMemory>(s.dst_bytes);
    FreshMemory* f = m.get();
    all->emplace_back(label, m);
    s.variants.push_back(fresh_variant(
        std::move(method), std::move(label), [all, f, prepare] { release_all(*all); prepare(*f); },
        [f, run] { run(*f); }, [f, check] { return check(*f); }));
}

// Notes: each fresh variant's granted huge pages (median over its rounds).
std::vector<std::string> granted_notes(const FreshList& all) {
    std::vector<std::string> notes;
    for (const auto& [label, m] : all) {
        if (m->granted_mib.empty()) continue;
        char line[200];
        std::snprintf(line, sizeof line, "%s: AnonHugePages granted, median %.0f of %.0f MiB", label.c_str(),
                      median(m->granted_mib), double(m->bytes) / (1 << 20));
        notes.emplace_back(line);
    }
    return notes;
}

// The median over rounds of variant a's GB/s over variant b's in the same round.
double median_ratio(const SectionResult& r, std::size_t a, std::size_t b) {
    std::vector<double> ratios;
    const auto& x = r.variants[a].gbps;
    const auto& y = r.variants[b].gbps;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
        if (y[i] > 0) ratios.push_back(x[i] / y[i]);
    return median(ratios);
}

} // namespace

Section prefault_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "prefault";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    s.variants.push_back(warm_reference(pair, ctx));
    tilecopy::CopyEngine* engine = ctx.engine;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    auto all_list = std::make_shared<FreshList>();
    auto add = [&](std::string label, std::function<void(FreshMemory&)> prepare, std::function<void(FreshMemory&)> run) {
        add_fresh(s, all_list, "prefault", std::move(label), std::move(prepare), std::move(run), [](const FreshMemory& m) {
            return all_resident(m.data(), m.bytes) ? std::string() : std::string("pages left absent");
        });
    };
    add("one thread writing each page", [](FreshMemory& m) { m.renew(); },
        [page](FreshMemory& m) {
            volatile unsigned char* p = m.data();
            for (std::size_t i = 0; i < m.bytes; i += page) p[i] = 0;
        });
    add("MAP_POPULATE", [](FreshMemory& m) { m.release(true); }, [](FreshMemory& m) { m.renew(MAP_POPULATE); });
    add("tilecopy prefault", [](FreshMemory& m) { m.renew(); },
        [engine](FreshMemory& m) { engine->prefault(m.data(), m.bytes); });
    for (tilecopy::HugePages huge : {tilecopy::HugePages::Never, tilecopy::HugePages::Auto})
        add(std::string("tilecopy allocate, populated now, huge pages ") + tilecopy::huge_pages_name(huge),
            [](FreshMemory& m) { m.release(true); },
            [engine, huge](FreshMemory& m) {
                tilecopy::AllocOptions o;
                o.huge_pages = huge;
                o.populate = tilecopy::Populate::Now;
                m.buffer = engine->allocate(m.bytes, o);
            });
    s.notes = [all_list](const SectionResult& r) {
        release_all(*all_list);
        std::vector<std::string> notes = granted_notes(*all_list);
        char line[160];
        std::snprintf(line, sizeof line, "tilecopy prefault / one thread writing each page: median %.2fx (target >= 1.8x)",
                      median_ratio(r, 3, 1));
        notes.emplace_back(line);
        std::snprintf(line, sizeof line, "tilecopy prefault / MAP_POPULATE: median %.2fx", median_ratio(r, 3, 2));
        notes.emplace_back(line);
        return notes;
    };
    s.buffers = std::make_shared<std::pair<std::shared_ptr<BufferPair>, std::shared_ptr<FreshList>>>(pair, all_list);
    return s;
}

Section fresh_copy_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "fresh copy";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    s.variants.push_back(warm_reference(pair, ctx));
    tilecopy::CopyEngine* engine = ctx.engine;
    // The same engine with no advice on fresh destinations and none on allocations.
    tilecopy::Options never = engine->options();
    never.fresh_destinations = tilecopy::HugePages::Never;
    never.huge_pages = tilecopy::HugePages::Never;
    auto engine_never = std::make_shared<tilecopy::CopyEngine>(never);
    const unsigned char* src = pair->src();
    auto all_list = std::make_shared<FreshList>();
    auto add = [&](std::string label, std::function<void(FreshMemory&)> prepare, std::function<void(FreshMemory&)> run) {
        std::string method = label.rfind("memcpy", 0) == 0 ? "memcpy" : "tilecopy";
        add_fresh(s, all_list, std::move(method), std::move(label), std::move(prepare), std::move(run),
                  [src](const FreshMemory& m) {
                      return std::memcmp(m.data(), src, m.bytes) == 0 ? std::string() : std::string("destination differs");
                  });
    };
    auto renew = [](FreshMemory& m) { m.renew(); };
    add("memcpy into fresh pages", renew, [src](FreshMemory& m) { std::memcpy(m.data(), src, m.bytes); });
    tilecopy::CopyEngine* plain = engine_never.get();
    add("tilecopy into fresh pages, advice never", renew,
        [plain, src](FreshMemory& m) { plain->copy(m.data(), src, m.bytes); });
    add("tilecopy into fresh pages, advice auto", renew,
        [engine, src](FreshMemory& m) { engine->copy(m.data(), src, m.bytes); });
    for (tilecopy::Populate populate : {tilecopy::Populate::FirstCopy, tilecopy::Populate::Now})
        for (tilecopy::HugePages huge : {tilecopy::HugePages::Never, tilecopy::HugePages::Auto})
            add(std::string("tilecopy allocate + copy, ") +
                    (populate == tilecopy::Populate::Now ? "populated now" : "populated by the copy") +
                    ", huge pages " + tilecopy::huge_pages_name(huge),
                [](FreshMemory& m) { m.release(true); },
                // Never: the engine that gives no advice at all (else its copy would advise the
                // buffer's untouched blocks as a fresh destination).
                [e = huge == tilecopy::HugePages::Never ? plain : engine, src, populate, huge](FreshMemory& m) {
                    tilecopy::AllocOptions o;
                    o.huge_pages = huge;
                    o.populate = populate;
                    m.buffer = e->allocate(m.bytes, o);
                    e->copy(m.buffer.data(), src, m.bytes);
                });
    s.notes = [all_list](const SectionResult& r) {
        release_all(*all_list);
        std::vector<std::string> notes = granted_notes(*all_list);
        char line[200];
        // Auto against never, round by round: a policy that asks must never be slower.
        std::snprintf(line, sizeof line,
                      "advice auto / never into fresh pages: median %.2fx; allocate+copy huge auto / never: "
                      "%.2fx (by the copy), %.2fx (now)",
                      median_ratio(r, 3, 2), median_ratio(r, 5, 4), median_ratio(r, 7, 6));
        notes.emplace_back(line);
        std::snprintf(line, sizeof line, "tilecopy (advice auto) / memcpy into fresh pages: median %.2fx",
                      median_ratio(r, 3, 1));
        notes.emplace_back(line);
        return notes;
    };
    s.buffers = std::make_shared<std::tuple<std::shared_ptr<BufferPair>, std::shared_ptr<FreshList>,
                                            std::shared_ptr<tilecopy::CopyEngine>>>(pair, all_list, engine_never);
    return s;
}

namespace {

// A file of the source's bytes, in the page cache (just written), mapped anew before each call.
struct MappedFile {
    int fd = -1;
    std::size_t bytes = 0;
    void* map = nullptr;
    MappedFile(const unsigned char* content, std::size_t n) : bytes(n) {
        char name[] = "/tmp/tilecopy-bench-file-XXXXXX";
        fd = ::mkstemp(name);
        if (fd < 0) throw std::runtime_error("cannot create a file in /tmp");
        ::unlink(name);
        for (std::size_t done = 0; done < n;) {
            const ssize_t w = ::write(fd, content + done, n - done);
            if (w <= 0) throw std::runtime_error("cannot write the file in /tmp");
            done += std::size_t(w);
        }
    }
    ~MappedFile() {
        unmap();
        if (fd >= 0) ::close(fd);
    }
    void unmap() {
        if (map) ::munmap(map, bytes);
        map = nullptr;
    }
    void remap() {
        unmap();
        void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        map = p;
    }
};

} // namespace

Section mapped_file_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "mapped file";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto pair = std::make_shared<BufferPair>(bytes, 0, 0);
    auto file = std::make_shared<MappedFile>(pair->src(), bytes);
    s.variants.push_back(warm_reference(pair, ctx));
    tilecopy::CopyEngine* engine = ctx.engine;
    BufferPair* p = pair.get();
    MappedFile* f = file.get();
    auto add = [&](std::string method, std::string label, std::function<void()> run) {
        s.variants.push_back(fresh_variant(
            std::move(method), std::move(label), [f] { f->remap(); }, run, [p, run] {
                p->clear_destination();
                run();
                const char* why = nullptr;
                return p->destination_matches(&why) ? std::string() : std::string(why);
            }));
    };
    add("memcpy", "memcpy from a freshly mapped file", [p, f] { std::memcpy(p->dst(), f->map, f->bytes); });
    add("tilecopy", "tilecopy from a freshly mapped file", [engine, p, f] { engine->copy(p->dst(), f->map, f->bytes); });
    add("tilecopy", "tilecopy prefault(read) + copy from it", [engine, p, f] {
        engine->prefault(f->map, f->bytes, false);
        engine->copy(p->dst(), f->map, f->bytes);
    });
    s.notes = [](const SectionResult&) {
        return std::vector<std::string>{"target: tilecopy from a freshly mapped file >= 0.9x the warm copy"};
    };
    s.buffers = std::make_shared<std::pair<std::shared_ptr<BufferPair>, std::shared_ptr<MappedFile>>>(pair, file);
    return s;
}

} // namespace bench
