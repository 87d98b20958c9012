// The rows a checkpoint loop cares about: a repeated snapshot into the previous one (warm
// memory, nothing allocated: the count of tensors it allocated is noted) against copy_batch of
// the same tensors into warm destinations, also asynchronously in the background; and a first
// snapshot into fresh memory against torch's clone() of every tensor.
#include "snapshot_sections.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/snapshot.hpp>

namespace bench {

namespace {

struct StateDict {
    std::vector<at::Tensor> srcs;
    std::vector<at::Tensor> warm;     // copy_batch's destinations, touched once
    std::vector<at::Tensor> previous; // the snapshot the repeated ones go into
    std::size_t calls_into = 0, allocated_into = 0; // snapshots into `previous`, tensors they allocated
};

// Tensors as a model's: 8 large ones of bytes/10 each, the rest of the bytes in 64 KiB tensors.
std::shared_ptr<StateDict> make_state(std::size_t bytes) {
    auto s = std::make_shared<StateDict>();
    std::vector<std::size_t> sizes(8, bytes / 10 / sizeof(float));
    for (std::size_t left = (bytes - 8 * (bytes / 10)) / sizeof(float); left >= 16384; left -= 16384)
        sizes.push_back(16384);
    std::uint64_t seed = 1;
    for (std::size_t floats : sizes) {
        at::Tensor t = at::empty({static_cast<std::int64_t>(floats)});
        fill_pattern(t.data_ptr(), t.nbytes(), seed++);
        s->srcs.push_back(std::move(t));
        s->warm.push_back(at::zeros({static_cast<std::int64_t>(floats)}));
    }
    return s;
}

std::string compare(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& srcs) {
    if (got.size() != srcs.size()) return "a tensor is missing";
    for (std::size_t i = 0; i < srcs.size(); ++i)
        if (std::memcmp(got[i].data_ptr(), srcs[i].data_ptr(), srcs[i].nbytes()) != 0)
            return "tensor " + std::to_string(i) + " differs from its source";
    return {};
}

} // namespace

Section snapshot_section(std::size_t bytes, const Context& ctx) {
    Section s;
    s.name = "snapshot";
    auto state = make_state(bytes);
    StateDict* p = state.get();
    std::size_t total = 0;
    for (const at::Tensor& t : p->srcs) total += t.nbytes();
    s.size_bytes = s.src_bytes = s.dst_bytes = total;
    s.buffers = state;
    tilecopy::CopyEngine* engine = ctx.engine;
    p->previous = tilecopy::snapshot(*engine, p->srcs).tensors;

    const auto add = [&](std::string method, std::string label, int reference,
                         std::function<std::vector<at::Tensor>()> make) {
        Variant v;
        v.method = std::move(method);
        v.label = std::move(label);
        v.reference = reference;
        v.copy = [make] { (void)make(); };
        v.verify = [p, make] { return compare(make(), p->srcs); };
        s.variants.push_back(std::move(v));
    };
    add("tilecopy-batch", "tilecopy warm copy_batch (reference)", -1, [engine, p] {
        engine->copy_batch(p->warm, p->srcs);
        return p->warm;
    });
    add("tilecopy-batch", "snapshot into previous", 0, [engine, p] {
        tilecopy::Snapshot snap = tilecopy::snapshot(*engine, p->srcs, {}, p->previous);
        ++p->calls_into;
        p->allocated_into += snap.allocated_tensors;
        return std::move(snap.tensors);
    });
    s.variants.back().target = 0.95;
    add("tilecopy-batch", "snapshot_async into previous, background", 0, [engine, p] {
        tilecopy::SnapshotHandle h = tilecopy::snapshot_async(*engine, p->srcs, {}, p->previous);
        ++p->calls_into;
        p->allocated_into += h.allocated_tensors();
        return h.result();
    });
    add("torch", "torch clone() of each tensor", -1, [p] {
        std::vector<at::Tensor> out;
        out.reserve(p->srcs.size());
        for (const at::Tensor& t : p->srcs) out.push_back(t.clone());
        return out;
    });
    add("tilecopy-batch", "first snapshot (fresh memory)", 3,
        [engine, p] { return tilecopy::snapshot(*engine, p->srcs).tensors; });
    s.notes = [p](const SectionResult&) {
        char line[200];
        std::snprintf(line, sizeof line, "snapshots into previous: %zu tensors allocated in %zu calls (%zu tensors each)",
                      p->allocated_into, p->calls_into, p->srcs.size());
        return std::vector<std::string>{line};
    };
    return s;
}

} // namespace bench
