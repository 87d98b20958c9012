// Copies into fresh memory as a checkpoint's staging makes them: CopyEngine::clone against
// torch's Tensor.clone(), memcpy into freshly mapped pages and tilecopy into a fresh
// torch.empty, each call allocating, filling and freeing its destination; the engine's copy
// into warm memory of the same size beside them as the ceiling.
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

#include "sections.hpp"

namespace bench {

namespace {

struct CloneBuffers {
    at::Tensor src;
    at::Tensor warm; // the warm copy's destination, touched once
    std::shared_ptr<tilecopy::CopyEngine> no_pool; // the engine's options with clone_pool_bytes 0
    double granted_mib = -1; // huge pages a clone into fresh memory held at verification
    std::vector<std::pair<std::string, long>> faults; // minor faults of one call, by variant
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

long minor_faults() {
    rusage r{};
    ::getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
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

    tilecopy::Options no_pool_options = engine->options();
    no_pool_options.clone_pool_bytes = 0;
    b->no_pool = std::make_shared<tilecopy::CopyEngine>(no_pool_options);
    tilecopy::CopyEngine* fresh = b->no_pool.get();

    // Each variant makes a tensor holding the source's bytes; the timed call drops it at once,
    // so its memory is freed inside the call, as in a loop of snapshots. Verification (untimed)
    // counts the minor faults of a second call (every thread of the process), as the rounds find it.
    const auto add = [&](std::string method, std::string label, std::function<at::Tensor()> make) {
        Variant v;
        v.method = std::move(method);
        v.label = label;
        v.copy = [make] { (void)make(); };
        v.verify = [p, make, label]() -> std::string {
            (void)make();
            const long before = minor_faults();
            const at::Tensor t = make();
            p->faults.emplace_back(label, minor_faults() - before);
            if (t.sizes() != p->src.sizes() || t.strides() != p->src.strides()) return "the layout differs from the source's";
            return std::memcmp(t.data_ptr(), p->src.data_ptr(), p->src.nbytes()) == 0
                       ? std::string()
                       : std::string("the copy differs from the source");
        };
        v.reference = s.variants.empty() ? -1 : 0;
        s.variants.push_back(std::move(v));
    };
    add("torch", "torch clone()", [p] { return p->src.clone(); });
    // The engine's defaults: the clone pool hands each call the memory the previous one freed.
    add("tilecopy-tensor", "tilecopy clone", [engine, p] { return engine->clone(p->src); });
    add("tilecopy-tensor", "tilecopy clone, no pool", [fresh, p] { return fresh->clone(p->src); });
    s.variants.back().verify = [p, fresh, verify = s.variants.back().verify]() {
        const double before = huge_mib();
        const at::Tensor kept = fresh->clone(p->src);
        if (before >= 0) p->granted_mib = huge_mib() - before;
        return verify();
    };
    tilecopy::AllocOptions by_copy;
    by_copy.populate = tilecopy::Populate::FirstCopy;
    add("tilecopy-tensor", "tilecopy clone, no pool, by the copy",
        [fresh, p, by_copy] { return fresh->clone(p->src, by_copy); });
    tilecopy::AllocOptions small_pages;
    small_pages.huge_pages = tilecopy::HugePages::Never;
    add("tilecopy-tensor", "tilecopy clone, no pool, huge pages never",
        [fresh, p, small_pages] { return fresh->clone(p->src, small_pages); });
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
    std::vector<std::string> labels;
    for (const Variant& v : s.variants) labels.push_back(v.label);
    s.notes = [p, bytes, labels](const SectionResult& r) {
        std::vector<std::string> notes;
        char line[200];
        if (p->granted_mib >= 0) {
            std::snprintf(line, sizeof line, "tilecopy clone into fresh memory: %.0f of %.0f MiB in huge pages (AnonHugePages)",
                          p->granted_mib, double(bytes) / (1 << 20));
            notes.push_back(line);
        }
        for (const auto& [label, faults] : p->faults) {
            std::snprintf(line, sizeof line, "%s: %ld minor faults in one call", label.c_str(), faults);
            notes.push_back(line);
        }
        const auto at = [&](const char* label) {
            for (std::size_t i = 0; i < labels.size(); ++i)
                if (labels[i] == label) return i;
            return labels.size();
        };
        const auto ratio = [&](const char* a_label, const char* b_label, const char* what) {
            const std::size_t a = at(a_label), b = at(b_label);
            if (r.variants.size() <= std::max(a, b)) return;
            std::vector<double> per_round; // a's GB/s over b's, round by round
            for (std::size_t k = 0; k < r.variants[a].gbps.size() && k < r.variants[b].gbps.size(); ++k)
                per_round.push_back(r.variants[a].gbps[k] / r.variants[b].gbps[k]);
            if (per_round.empty()) return;
            std::snprintf(line, sizeof line, "%s: %.2fx (median of per-round ratios)", what, median(per_round));
            notes.push_back(line);
        };
        const char* warm = "tilecopy warm copy (reference)";
        ratio("tilecopy clone", "torch clone()", "tilecopy clone / torch clone() (target >= 1.8x from 64 MiB)");
        ratio("tilecopy clone", warm, "tilecopy clone (pool) / the engine's warm copy (target >= 0.8x)");
        ratio("tilecopy clone, no pool", warm, "tilecopy clone, no pool / the engine's warm copy");
        ratio("tilecopy clone, no pool", "torch clone()", "tilecopy clone, no pool / torch clone()");
        ratio("tilecopy clone, no pool, huge pages never", warm, "tilecopy clone, no pool, huge pages never / warm copy");
        ratio("tilecopy clone, no pool", "tilecopy clone, no pool, huge pages never",
              "no pool: huge pages auto / never (target >= 1)");
        ratio("tilecopy clone, no pool, by the copy", "tilecopy clone, no pool", "no pool: populated by the copy / first");
        return notes;
    };
    return s;
}

} // namespace bench
