// Batched and asynchronous tensor copies (issue 6): CopyEngine::copy_batch against loops of
// torch's copy_ and of CopyEngine::copy over the same tensors, and copy_async of one large
// tensor against a synchronous copy of it. With torch_methods.cpp, the benchmark files that
// include ATen.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>
#include <tilecopy/units.hpp>

#include "report.hpp"
#include "sections.hpp"

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;

// Separately allocated float32 tensors, as an optimizer's state is: sources with a pattern
// unique per pair, destinations zeroed (every page touched).
struct TensorList {
    std::vector<at::Tensor> dsts;
    std::vector<at::Tensor> srcs;
};

std::shared_ptr<TensorList> make_list(std::size_t pairs, std::size_t bytes_each) {
    auto list = std::make_shared<TensorList>();
    const auto floats = static_cast<std::int64_t>(bytes_each / sizeof(float));
    for (std::size_t i = 0; i < pairs; ++i) {
        at::Tensor src = at::empty({floats});
        fill_pattern(src.data_ptr(), src.nbytes(), i + 1);
        list->srcs.push_back(std::move(src));
        list->dsts.push_back(at::zeros({floats}));
    }
    return list;
}

std::string verify_list(const TensorList& list, const std::function<void()>& copy) {
    for (const at::Tensor& d : list.dsts)
        std::memset(d.data_ptr(), 0, d.nbytes());
    copy();
    for (std::size_t i = 0; i < list.dsts.size(); ++i)
        if (std::memcmp(list.dsts[i].data_ptr(), list.srcs[i].data_ptr(), list.srcs[i].nbytes()) != 0)
            return "pair " + std::to_string(i) + " differs from its source";
    return {};
}

Variant list_variant(std::string method, std::string label, const std::shared_ptr<TensorList>& list,
                     std::function<void()> copy) {
    Variant v;
    v.method = std::move(method);
    v.label = std::move(label);
    v.copy = copy;
    v.verify = [list, copy] { return verify_list(*list, copy); };
    return v;
}

// The median over rounds of variant a's GB/s over variant b's in the same round.
double median_ratio(const SectionResult& r, std::size_t a, std::size_t b) {
    const auto& x = r.variants[a].gbps;
    const auto& y = r.variants[b].gbps;
    std::vector<double> ratios;
    for (std::size_t k = 0; k < x.size() && k < y.size(); ++k)
        if (y[k] > 0) ratios.push_back(x[k] / y[k]);
    return median(ratios);
}

std::string fixed(double value, int digits) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

// "64K", "8M"
std::string short_size(std::size_t bytes) {
    return bytes >= (std::size_t(1) << 20) ? std::to_string(bytes >> 20) + "M" : std::to_string(bytes >> 10) + "K";
}

} // namespace

Section batch_section(std::size_t pairs, std::size_t bytes_each, const Context& ctx) {
    Section s;
    s.name = "batch " + short_size(bytes_each); // the table's column is 10 wide
    s.size_bytes = s.src_bytes = s.dst_bytes = pairs * bytes_each;
    auto list = make_list(pairs, bytes_each);
    s.buffers = list;
    TensorList* l = list.get();
    tilecopy::CopyEngine* engine = ctx.engine;

    int torch_loop = -1, engine_loop = -1;
    if (ctx.methods.torch) {
        torch_loop = static_cast<int>(s.variants.size());
        s.variants.push_back(list_variant("torch", "torch copy_ loop", list, [l] {
            for (std::size_t i = 0; i < l->dsts.size(); ++i)
                l->dsts[i].copy_(l->srcs[i]);
        }));
    }
    if (ctx.methods.tilecopy_tensor) {
        engine_loop = static_cast<int>(s.variants.size());
        s.variants.push_back(list_variant("tilecopy-tensor", "tilecopy copy loop", list, [engine, l] {
            for (std::size_t i = 0; i < l->dsts.size(); ++i)
                engine->copy(l->dsts[i], l->srcs[i]);
        }));
    }
    const std::size_t batch = s.variants.size();
    s.variants.push_back(list_variant("tilecopy-batch", "tilecopy copy_batch", list,
                                      [engine, l] { engine->copy_batch(l->dsts, l->srcs); }));
    s.variants[batch].reference = torch_loop >= 0 ? torch_loop : engine_loop;
    if (engine_loop >= 0)
        s.variants[static_cast<std::size_t>(engine_loop)].reference = torch_loop;
    // The same pairs as raw regions: the batch without the tensor rules.
    auto regions = std::make_shared<std::vector<tilecopy::Region>>();
    for (std::size_t i = 0; i < pairs; ++i)
        regions->push_back(tilecopy::Region{l->dsts[i].data_ptr(), l->srcs[i].data_ptr(), l->dsts[i].nbytes()});
    const std::size_t raw = s.variants.size();
    s.variants.push_back(list_variant("tilecopy-batch", "tilecopy copy_batch raw", list,
                                      [engine, regions] { engine->copy_batch(*regions); }));
    s.variants[raw].reference = s.variants[batch].reference;

    const std::string what = std::to_string(pairs) + " pairs of " + tilecopy::size_text(bytes_each) + " float32 tensors";
    s.notes = [what, batch, raw, torch_loop, engine_loop](const SectionResult& r) {
        std::vector<std::string> notes{what};
        const auto add = [&](std::size_t mine, const char* label, int other, const char* name, const char* target) {
            if (other < 0 || r.variants[mine].gbps.empty() || r.variants[static_cast<std::size_t>(other)].gbps.empty())
                return;
            notes.push_back(std::string(label) + " / " + name + ": " +
                            fixed(median_ratio(r, mine, static_cast<std::size_t>(other)), 2) +
                            "x (median of per-round ratios; target " + target + ")");
        };
        for (const auto& [mine, label] : {std::pair<std::size_t, const char*>{batch, "copy_batch"},
                                          std::pair<std::size_t, const char*>{raw, "copy_batch raw"}}) {
            add(mine, label, torch_loop, "torch copy_ loop", ">= 1.5x");
            add(mine, label, engine_loop, "tilecopy copy loop", ">= 1.2x");
        }
        return notes;
    };
    return s;
}

Section async_section(std::size_t bytes, const Context& ctx) {
    struct Buffers {
        at::Tensor dst, src;
        std::vector<double> return_us;
    };
    Section s;
    s.name = "async";
    s.size_bytes = s.src_bytes = s.dst_bytes = bytes;
    auto b = std::make_shared<Buffers>();
    const auto floats = static_cast<std::int64_t>(bytes / sizeof(float));
    b->src = at::empty({floats});
    fill_pattern(b->src.data_ptr(), b->src.nbytes(), 7);
    b->dst = at::zeros({floats});
    s.buffers = b;
    Buffers* p = b.get();
    tilecopy::CopyEngine* engine = ctx.engine;

    const auto add = [&](std::string method, std::string label, std::function<void()> copy) {
        Variant v;
        v.method = std::move(method);
        v.label = std::move(label);
        v.copy = copy;
        v.verify = [p, copy]() -> std::string {
            std::memset(p->dst.data_ptr(), 0, p->dst.nbytes());
            copy();
            return std::memcmp(p->dst.data_ptr(), p->src.data_ptr(), p->src.nbytes()) == 0
                       ? std::string()
                       : std::string("the destination differs from the source");
        };
        s.variants.push_back(std::move(v));
    };
    add("tilecopy-tensor", "tilecopy copy (synchronous)", [engine, p] { engine->copy(p->dst, p->src); });
    add("tilecopy-async", "copy_async until done", [engine, p] {
        const auto start = Clock::now();
        tilecopy::CopyHandle handle = engine->copy_async(p->dst, p->src);
        p->return_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        handle.wait();
    });
    s.variants[1].reference = 0;
    s.notes = [p](const SectionResult&) {
        if (p->return_us.empty())
            return std::vector<std::string>{};
        const auto [lo, hi] = std::minmax_element(p->return_us.begin(), p->return_us.end());
        return std::vector<std::string>{"copy_async returned to the caller in " + fixed(median(p->return_us), 1) +
                                        " us (median; min " + fixed(*lo, 1) + ", max " + fixed(*hi, 1) + ", " +
                                        std::to_string(p->return_us.size()) + " calls; target < 50 us)"};
    };
    return s;
}

} // namespace bench
