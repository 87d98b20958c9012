// Tensor copies for tilecopy-stress: contiguous, strided (narrowed, transposed, broadcast) and
// converting (float32 <-> bfloat16 / float16) copies, each compared with torch's copy_.
#include "stress_tensor.hpp"

#include <cstring>
#include <vector>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

namespace tilecopy::stress {

namespace {

const at::ScalarType kDtypes[] = {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble, at::kInt};

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

} // namespace

TensorRound tensor_round(CopyEngine& engine, std::mt19937_64& rng) {
    TensorRound round;
    auto pick = [&rng](std::int64_t lo, std::int64_t hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };
    for (int i = 0; i < 4; ++i) {
        const at::ScalarType dst_type = kDtypes[pick(0, 2)];
        const at::ScalarType src_type = pick(0, 1) ? dst_type : kDtypes[pick(0, 4)];
        const std::int64_t rows = pick(1, 300), cols = pick(1, 3000);
        // Random bits, NaNs included: the copies must be bit-exact, not just value-equal.
        at::Tensor src = at::randint(-(1LL << 31), (1LL << 31) - 1, {rows, cols + 8}, at::kInt)
                             .view(at::kFloat)
                             .to(src_type);
        at::Tensor dst_storage = at::randint(0, 255, {rows, cols + 8, 8}, at::kByte);
        at::Tensor dst = dst_storage.view(at::kDouble).view({rows, cols + 8}).view(dst_type);
        dst = dst.narrow(1, 0, cols);
        at::Tensor source;
        switch (pick(0, 3)) {
        case 0: source = src.narrow(1, 0, cols); break;                       // row blocks
        case 1: source = src.narrow(1, 0, cols).narrow(0, 0, 1).expand({rows, cols}); break; // broadcast
        case 2: source = src.narrow(1, 8, cols); break;                       // offset runs
        default: dst = dst.narrow(0, 0, 1).squeeze(0); source = src[0].narrow(0, 0, cols); break;
        }
        at::Tensor twin_storage = dst_storage.clone();
        at::Tensor twin = twin_storage.view(at::kDouble).view({rows, cols + 8}).view(dst_type).narrow(1, 0, cols);
        if (dst.dim() == 1) twin = twin.narrow(0, 0, 1).squeeze(0);
        twin.copy_(source);
        try {
            engine.copy(dst, source);
        } catch (const std::exception& e) {
            ++round.errors;
            if (round.first_error.empty()) round.first_error = std::string("tensor copy threw: ") + e.what();
            continue;
        }
        ++round.copies;
        round.bytes += dst.nbytes();
        if (!same_bytes(dst_storage, twin_storage)) {
            ++round.errors;
            if (round.first_error.empty())
                round.first_error = std::string("tensor copy ") + c10::toString(src_type) + " -> " +
                                    c10::toString(dst_type) + " differs from copy_";
        }
    }
    return round;
}

} // namespace tilecopy::stress
