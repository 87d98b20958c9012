// libFuzzer target for tensor copies against their specification, torch's CPU copy_: dtypes,
// shapes, strides and storage offsets (as_strided over a storage), broadcasting sources and
// sources sharing the destination's storage all come from the input. Each input builds the
// same tensors twice over identical storages; copy_ runs on one twin and CopyEngine::copy on
// the other. Both must accept (then the storages must be byte-identical, version counters
// equal) or both reject (c10::Error and tilecopy::Error, with copy_'s message word for word;
// then nothing may have changed).
//
// The same input then builds a batch of up to four pairs, each plain, conjugate, into an
// inference tensor, into an expanded destination, from a sparse source or into a
// functionalization wrapper, some destinations on one shared storage: copy_ runs the pairs in order on one
// twin, CopyEngine::copy_batch the whole batch on the other. A refused batch must leave every
// byte of every destination storage as it was; an accepted one must equal copy_ in order.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/FunctionalTensorWrapper.h>
#include <ATen/Parallel.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <tilecopy/torch.hpp>

#include "engine_cache.hpp"

using namespace tilecopy;
using tilecopy::fuzz::fail;
using Shape = std::vector<std::int64_t>;

namespace {

// Conversion pairs (float32 <-> bfloat16 / float16) are the fast paths: listed twice each.
const at::ScalarType kDtypes[] = {at::kFloat,  at::kFloat, at::kBFloat16, at::kBFloat16, at::kHalf,
                                  at::kHalf,   at::kDouble, at::kInt,     at::kLong,     at::kByte,
                                  at::kBool,   at::kComplexFloat};
constexpr std::int64_t kMaxElements = 1 << 17;

struct ViewSpec {
    at::ScalarType dtype = at::kFloat;
    Shape sizes, strides;
    std::int64_t offset = 0; // elements
    bool shares_dst_storage = false;

    // Elements of the storage the view reaches, plus one.
    std::int64_t extent() const {
        std::int64_t last = offset;
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            if (sizes[i] == 0) return offset;
            last += (sizes[i] - 1) * strides[i];
        }
        return last + 1;
    }
    std::string text() const {
        std::ostringstream out;
        out << c10::toString(dtype) << " sizes [";
        for (std::size_t i = 0; i < sizes.size(); ++i) out << (i ? "," : "") << sizes[i];
        out << "] strides [";
        for (std::size_t i = 0; i < strides.size(); ++i) out << (i ? "," : "") << strides[i];
        out << "] offset " << offset << (shares_dst_storage ? " (on the destination's storage)" : "");
        return out.str();
    }
};

std::int64_t consume_size(FuzzedDataProvider& in, bool innermost) {
    // Innermost runs of 1 KiB to 8 KiB reach the strided and converted paths (runs >= 4 KiB).
    if (innermost && in.ConsumeBool()) {
        static constexpr std::int64_t kLong[] = {255, 1024, 1031, 2048};
        return kLong[in.ConsumeIntegralInRange(0, 3)];
    }
    return in.ConsumeIntegralInRange<std::int64_t>(0, 5);
}

// Contiguous strides, sometimes permuted, padded or replaced by arbitrary small ones (0
// included: an expanded destination must be refused).
Shape consume_strides(FuzzedDataProvider& in, const Shape& sizes) {
    Shape strides(sizes.size());
    std::int64_t running = 1;
    for (std::size_t i = sizes.size(); i-- > 0;) {
        strides[i] = running;
        running *= std::max<std::int64_t>(sizes[i], 1) + (in.ConsumeIntegralInRange(0, 3) == 0 ? 1 : 0);
    }
    switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
    case 1: break;
    case 2:
        if (strides.size() > 1) {
            const std::size_t a = in.ConsumeIntegralInRange<std::size_t>(0, strides.size() - 1);
            const std::size_t b = in.ConsumeIntegralInRange<std::size_t>(0, strides.size() - 1);
            std::swap(strides[a], strides[b]);
        }
        break;
    default:
        for (auto& s : strides)
            if (in.ConsumeBool()) s = in.ConsumeIntegralInRange<std::int64_t>(0, 9);
        break;
    }
    return strides;
}

ViewSpec consume_dst(FuzzedDataProvider& in) {
    ViewSpec v;
    v.dtype = kDtypes[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kDtypes) - 1)];
    const std::size_t dims = in.ConsumeIntegralInRange<std::size_t>(0, 4);
    std::int64_t numel = 1;
    for (std::size_t i = 0; i < dims; ++i) {
        v.sizes.push_back(consume_size(in, i + 1 == dims));
        numel *= std::max<std::int64_t>(v.sizes.back(), 1);
    }
    if (numel > kMaxElements) v.sizes.back() = 1;
    v.strides = consume_strides(in, v.sizes);
    v.offset = in.ConsumeIntegralInRange<std::int64_t>(0, 70);
    return v;
}

// A source whose shape broadcasts to the destination's (leading dimensions dropped, others
// set to 1), or now and then one that does not.
ViewSpec consume_src(FuzzedDataProvider& in, const ViewSpec& dst) {
    ViewSpec v;
    v.dtype = in.ConsumeBool() ? dst.dtype : kDtypes[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kDtypes) - 1)];
    const std::size_t drop = in.ConsumeIntegralInRange<std::size_t>(0, dst.sizes.size());
    v.sizes.assign(dst.sizes.begin() + static_cast<std::ptrdiff_t>(drop), dst.sizes.end());
    for (auto& s : v.sizes)
        if (in.ConsumeIntegralInRange(0, 4) == 0) s = 1;
    if (in.ConsumeIntegralInRange(0, 15) == 0 && !v.sizes.empty()) v.sizes.front() += 1; // does not broadcast
    v.strides = consume_strides(in, v.sizes);
    v.offset = in.ConsumeIntegralInRange<std::int64_t>(0, 70);
    v.shares_dst_storage = in.ConsumeIntegralInRange(0, 3) == 0;
    return v;
}

// Storage bytes: a multiple of 16 so that every dtype can view all of it.
std::int64_t storage_bytes(const ViewSpec& v, std::int64_t at_least) {
    const std::int64_t bytes = std::max(at_least, v.extent() * static_cast<std::int64_t>(c10::elementSize(v.dtype)));
    return (bytes + 15) / 16 * 16 + 16;
}

at::Tensor make_storage(const std::vector<std::uint8_t>& bytes) {
    at::Tensor t = at::empty({static_cast<std::int64_t>(bytes.size())}, at::kByte);
    std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    return t;
}

at::Tensor view_of(const at::Tensor& storage, const ViewSpec& v) {
    return storage.view(v.dtype).as_strided(v.sizes, v.strides, v.offset);
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
    return std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<std::size_t>(a.numel())) == 0;
}

bool same_bytes(const at::Tensor& a, const std::vector<std::uint8_t>& b) {
    return std::memcmp(a.data_ptr(), b.data(), b.size()) == 0;
}

// How a batch pair is made of its two views.
enum class Kind { Plain, Conjugate, InferenceDst, ExpandedDst, SparseSrc, WrapperDst, Count };

struct BatchPair {
    ViewSpec dst, src;
    Kind kind = Kind::Plain;
    bool shares_first_storage = false; // the destination's storage is pair 0's
};

const char* kind_name(Kind k) {
    static const char* names[] = {"plain", "conjugate", "inference destination", "expanded destination",
                                  "sparse source", "wrapper destination"};
    return names[static_cast<int>(k)];
}

// One twin of a batch: storages (destinations first) and the pairs' tensors.
struct BatchTwin {
    std::vector<at::Tensor> storages, dsts, srcs;
};

BatchTwin make_batch_twin(const std::vector<BatchPair>& pairs, const std::vector<std::uint8_t>& init) {
    BatchTwin t;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        const BatchPair& p = pairs[i];
        at::Tensor dst_storage;
        if (p.shares_first_storage) {
            dst_storage = t.storages[0];
        } else if (p.kind == Kind::InferenceDst) {
            c10::InferenceMode guard;
            dst_storage = make_storage(init);
        } else {
            dst_storage = make_storage(init);
        }
        t.storages.push_back(dst_storage);
        at::Tensor dst, src;
        {
            c10::InferenceMode guard(p.kind == Kind::InferenceDst);
            dst = view_of(dst_storage, p.dst);
        }
        src = view_of(p.src.shares_dst_storage ? dst_storage : make_storage(init), p.src);
        switch (p.kind) {
        case Kind::Conjugate: // a conjugate destination or source, as the sizes fall
            if (dst.numel() % 2)
                dst = dst.conj();
            else
                src = src.conj();
            break;
        case Kind::ExpandedDst:
            for (std::int64_t d = 0; d < dst.dim(); ++d)
                if (dst.size(d) > 1) {
                    std::vector<std::int64_t> strides = dst.strides().vec();
                    strides[static_cast<std::size_t>(d)] = 0;
                    dst = dst.as_strided(dst.sizes(), strides);
                    break;
                }
            break;
        case Kind::SparseSrc: src = src.to_sparse(); break;
        case Kind::WrapperDst: dst = at::functionalization::impl::to_functional_tensor(dst); break;
        default: break;
        }
        t.dsts.push_back(dst);
        t.srcs.push_back(src);
    }
    return t;
}

bool same_storages(const BatchTwin& a, const BatchTwin& b) {
    for (std::size_t i = 0; i < a.storages.size(); ++i)
        if (!same_bytes(a.storages[i], b.storages[i])) return false;
    return true;
}

void batch_copy(CopyEngine& engine, FuzzedDataProvider& in) {
    std::vector<BatchPair> pairs(in.ConsumeIntegralInRange<std::size_t>(1, 4));
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        BatchPair& p = pairs[i];
        p.kind = static_cast<Kind>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(Kind::Count) - 1));
        p.dst = consume_dst(in);
        if (p.kind == Kind::Conjugate) p.dst.dtype = at::kComplexFloat;
        p.src = consume_src(in, p.dst);
        if (p.kind == Kind::Conjugate) p.src.dtype = at::kComplexFloat;
        if (p.src.dtype == at::kBool) p.src.dtype = at::kByte; // every byte of a storage is then valid
        if (p.dst.dtype == at::kBool) p.dst.dtype = at::kByte;
        p.shares_first_storage = i > 0 && p.kind != Kind::InferenceDst && pairs[0].kind != Kind::InferenceDst &&
                                 in.ConsumeIntegralInRange(0, 2) == 0;
    }
    std::int64_t bytes = 0;
    for (const BatchPair& p : pairs) bytes = std::max({bytes, storage_bytes(p.dst, 0), storage_bytes(p.src, 0)});
    std::vector<std::uint8_t> init = in.ConsumeBytes<std::uint8_t>(static_cast<std::size_t>(bytes));
    init.resize(static_cast<std::size_t>(bytes), 0x5A);

    BatchTwin by_torch, by_engine;
    try {
        by_torch = make_batch_twin(pairs, init);
        by_engine = make_batch_twin(pairs, init);
    } catch (const c10::Error&) {
        return; // torch cannot make such a tensor (a sparse view of no dimensions...): nothing to compare
    }
    std::string what = "batch of";
    for (const BatchPair& p : pairs)
        what += std::string(" [") + kind_name(p.kind) + ": " + p.dst.text() + " <- " + p.src.text() +
                (p.shares_first_storage ? ", on pair 0's storage" : "") + "]";

    std::string torch_error, engine_error;
    for (std::size_t i = 0; i < pairs.size() && torch_error.empty(); ++i) {
        try {
            by_torch.dsts[i].copy_(by_torch.srcs[i]);
        } catch (const c10::Error& e) {
            torch_error = std::string(e.what_without_backtrace()) + " (pair " + std::to_string(i) + " of the batch)";
        }
    }
    try {
        engine.copy_batch(by_engine.dsts, by_engine.srcs);
    } catch (const tilecopy::Error& e) {
        engine_error = e.what();
    }
    const BatchTwin untouched = make_batch_twin(pairs, init);
    if (!engine_error.empty()) {
        if (!same_storages(by_engine, untouched))
            fail(what + ": a refused batch wrote to a destination storage (" + engine_error + ")");
        if (!torch_error.empty() && engine_error != torch_error)
            fail(what + ": copy_ in order refused with \"" + torch_error + "\" but tilecopy with \"" + engine_error + "\"");
        const bool order = engine_error.find("share memory") != std::string::npos ||
                           engine_error.find("separate batches") != std::string::npos;
        if (torch_error.empty() && !order)
            fail(what + ": copy_ in order accepted but tilecopy refused (" + engine_error + ")");
        return;
    }
    if (!torch_error.empty()) fail(what + ": copy_ in order refused (" + torch_error + ") but tilecopy accepted");
    if (!same_storages(by_torch, by_engine)) fail(what + ": the storages differ from copy_ in order");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool single_threaded = [] {
        at::set_num_threads(1); // the result does not depend on it; fuzzing speed does
        return true;
    }();
    (void)single_threaded;

    // Inputs that start with 'B' are batches (the seeds of single pairs never do).
    if (size > 0 && data[0] == 'B') {
        FuzzedDataProvider in(data + 1, size - 1);
        fuzz::EngineKey key;
        key.kernel = in.ConsumeIntegralInRange<std::size_t>(0, fuzz::supported_kernels().size() - 1);
        key.tile = 2;
        batch_copy(fuzz::engine_for(key), in);
        return 0;
    }
    FuzzedDataProvider in(data, size);
    fuzz::EngineKey key;
    key.kernel = in.ConsumeIntegralInRange<std::size_t>(0, fuzz::supported_kernels().size() - 1);
    key.tile = 2;
    key.block = in.ConsumeIntegralInRange<std::size_t>(0, 1);
    key.inline_threshold = in.ConsumeIntegralInRange<std::size_t>(0, 1);
    key.nontemporal = in.ConsumeBool() ? 0 : 1;
    CopyEngine& engine = fuzz::engine_for(key);

    const ViewSpec dst = consume_dst(in);
    const ViewSpec src = consume_src(in, dst);
    const std::int64_t dst_bytes = storage_bytes(dst, src.shares_dst_storage ? storage_bytes(src, 0) : 0);
    const std::int64_t src_bytes = src.shares_dst_storage ? 0 : storage_bytes(src, 0);

    // Storage contents: the rest of the input, repeated (NaNs, infinities and denormals turn
    // up on their own); 0/1 only when a bool view reads them (other bytes are not bools).
    std::vector<std::uint8_t> seed = in.ConsumeRemainingBytes<std::uint8_t>();
    if (seed.empty()) seed.push_back(0x3F);
    const bool bools = dst.dtype == at::kBool || src.dtype == at::kBool;
    auto fill = [&](std::int64_t n, std::size_t start) {
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n));
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            const std::uint8_t b = seed[(i + start) % seed.size()];
            bytes[i] = bools ? b & 1 : b;
        }
        return bytes;
    };
    const std::vector<std::uint8_t> dst_init = fill(dst_bytes, 0);
    const std::vector<std::uint8_t> src_init = fill(src_bytes, 7);

    struct Twin {
        at::Tensor dst_storage, src_storage, dst, src;
    };
    auto make_twin = [&] {
        Twin t;
        t.dst_storage = make_storage(dst_init);
        t.src_storage = src.shares_dst_storage ? t.dst_storage : make_storage(src_init);
        t.dst = view_of(t.dst_storage, dst);
        t.src = view_of(t.src_storage, src);
        return t;
    };
    Twin by_torch = make_twin();
    Twin by_engine = make_twin();

    std::string torch_error, engine_error;
    bool torch_ok = true, engine_ok = true;
    try {
        by_torch.dst.copy_(by_torch.src);
    } catch (const c10::Error& e) {
        torch_ok = false;
        torch_error = e.what_without_backtrace();
    }
    try {
        engine.copy(by_engine.dst, by_engine.src);
    } catch (const tilecopy::Error& e) {
        engine_ok = false;
        engine_error = e.what();
    }

    const std::string what = "copy into " + dst.text() + " from " + src.text() + " (kernel " + engine.kernel() + ")";
    if (torch_ok != engine_ok)
        fail(what + ": copy_ " + (torch_ok ? "accepted" : "refused (" + torch_error + ")") + " but tilecopy " +
             (engine_ok ? "accepted" : "refused (" + engine_error + ")"));
    if (!torch_ok && engine_error != torch_error)
        fail(what + ": copy_ refused with \"" + torch_error + "\" but tilecopy with \"" + engine_error + "\"");
    if (!same_bytes(by_torch.dst_storage, by_engine.dst_storage))
        fail(what + ": the destination storages differ after the copy");
    if (!src.shares_dst_storage && !same_bytes(by_engine.src_storage, src_init))
        fail(what + ": the source storage changed");
    if (!engine_ok && !same_bytes(by_engine.dst_storage, dst_init))
        fail(what + ": a refused copy wrote to the destination storage (" + engine_error + ")");
    if (engine_ok && by_torch.dst._version() != by_engine.dst._version())
        fail(what + ": version counter " + std::to_string(by_engine.dst._version()) + ", copy_ leaves " +
             std::to_string(by_torch.dst._version()));
    return 0;
}
