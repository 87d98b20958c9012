// Copies into fresh memory as a checkpoint's staging makes them: CopyEngine::clone against
// torch's Tensor.clone(), memcpy into freshly mapped pages and tilecopy into a fresh
// torch.empty, each call allocating, filling and freeing its destination; the engine's copy
// into warm memory of the same size beside them as the ceiling.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

#include "sections.hpp"

namespace bench {

namespace {

struct CloneBuffers {
    at::Tensor src;
    at::Tensor warm; // the warm copy's destination, touched once
    double granted_mib = -1; // huge pages the default clone held at verification
};

// The process's AnonHugePages in MiB (smaps_rollup), or -1.
double huge_mib() {
    FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    double mib = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "AnonHugePages:", 14) == 0) mib = std::atof(line + 14) / 1024.0;
    std::fclose(f);
    return mib;
}

// A fresh anonymous mapping filled by memcpy, unmapped when the tensor dies (as a clone's is).
at::Tensor memcpy_into_fresh_pages(const at::Tensor& src) {
    const std::size_t bytes = src.nbytes();
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    std::memcpy(p, src.data_ptr(), bytes);
    return at::from_blob(p, src.sizes(), [bytes](void* q) { ::munmap(q, bytes); }, src.options());
}

} // namespace

Section clone_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "clone";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto b = std::make_shared<CloneBuffers>();
    const auto floats = static_cast<std::int64_t>(bytes / sizeof(float));
    b->src = at::empty({floats});
    fill_pattern(b->src.data_ptr(), b->src.nbytes(), 11);
    b->warm = at::zeros({floats});
    s.buffers = b;
    CloneBuffers* p = b.get();
    tilecopy::CopyEngine* engine = ctx.engine;

    // Each variant makes a tensor holding the source's bytes; the timed call drops it at once,
    // so its memory is freed inside the call, as in a loop of snapshots.
    const auto add = [&](std::string method, std::string label, std::function<at::Tensor()> make) {
        Variant v;
        v.method = std::move(method);
        v.label = std::move(label);
        v.copy = [make] { (void)make(); };
        v.verify = [p, make]() -> std::string {
            const at::Tensor t = make();
            if (t.sizes() != p->src.sizes() || t.strides() != p->src.strides()) return "the layout differs from the source's";
            return std::memcmp(t.data_ptr(), p->src.data_ptr(), p->src.nbytes()) == 0
                       ? std::string()
                       : std::string("the copy differs from the source");
        };
        v.reference = s.variants.empty() ? -1 : 0;
        s.variants.push_back(std::move(v));
    };
    add("torch", "torch clone()", [p] { return p->src.clone(); });
    add("tilecopy-tensor", "tilecopy clone", [engine, p] { return engine->clone(p->src); });
    s.variants.back().verify = [p, engine, verify = s.variants.back().verify]() {
        const double before = huge_mib();
        const at::Tensor kept = engine->clone(p->src);
        if (before >= 0) p->granted_mib = huge_mib() - before;
        return verify();
    };
    for (tilecopy::Populate populate : {tilecopy::Populate::Now, tilecopy::Populate::FirstCopy}) {
        tilecopy::AllocOptions options;
        options.populate = populate;
        add("tilecopy-tensor",
            populate == tilecopy::Populate::Now ? "tilecopy clone, populated first" : "tilecopy clone, by the copy",
            [engine, p, options] { return engine->clone(p->src, options); });
    }
    add("tilecopy-tensor", "tilecopy into a fresh torch.empty", [engine, p] {
        at::Tensor t = at::empty_like(p->src);
        engine->copy(t, p->src);
        return t;
    });
    add("memcpy", "memcpy into fresh pages", [p] { return memcpy_into_fresh_pages(p->src); });
    add("tilecopy", "tilecopy warm copy (reference)", [engine, p] {
        engine->copy(p->warm.data_ptr(), p->src.data_ptr(), p->src.nbytes());
        return p->warm;
    });
    s.notes = [p, bytes](const SectionResult& r) {
        std::vector<std::string> notes;
        if (p->granted_mib >= 0) {
            char line[160];
            std::snprintf(line, sizeof line, "tilecopy clone: %.0f of %.0f MiB in huge pages (AnonHugePages)",
                          p->granted_mib, double(bytes) / (1 << 20));
            notes.push_back(line);
        }
        const auto ratio = [&](std::size_t a, std::size_t b, const char* what) {
            if (r.variants.size() <= std::max(a, b)) return;
            std::vector<double> per_round; // a's GB/s over b's, round by round
            for (std::size_t k = 0; k < r.variants[a].gbps.size() && k < r.variants[b].gbps.size(); ++k)
                per_round.push_back(r.variants[a].gbps[k] / r.variants[b].gbps[k]);
            if (per_round.empty()) return;
            char line[160];
            std::snprintf(line, sizeof line, "%s: %.2fx (median of per-round ratios)", what, median(per_round));
            notes.push_back(line);
        };
        ratio(1, 0, "tilecopy clone / torch clone() (target >= 1.8x from 64 MiB)");
        ratio(1, 6, "tilecopy clone / the engine's warm copy");
        ratio(3, 2, "tilecopy clone populated by the copy / populated first");
        return notes;
    };
    return s;
}

} // namespace bench
