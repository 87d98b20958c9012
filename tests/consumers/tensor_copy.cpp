// A consumer of the installed torch adapter, built with `pkg-config --cflags --libs
// tilecopy-torch` only (tools/ci-consumers.sh): tensor copies checked against copy_.
#include <cstdio>
#include <cstring>

#include <ATen/ATen.h>

#include <tilecopy/torch.hpp>

namespace {

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

// Copies src into two fresh destinations, one with copy_ and one with tilecopy.
bool matches(const at::Tensor& src, at::ScalarType dtype, bool transposed) {
    at::Tensor expected = at::empty(src.sizes(), dtype), actual = at::empty(src.sizes(), dtype);
    if (transposed) {
        expected = at::empty({src.size(1), src.size(0)}, dtype).t();
        actual = at::empty({src.size(1), src.size(0)}, dtype).t();
    }
    expected.copy_(src);
    tilecopy::default_engine().copy(actual, src);
    return same_bytes(expected.contiguous(), actual.contiguous());
}

} // namespace

int main() {
    const at::Tensor src = at::randn({512, 1024});
    const bool ok = matches(src, at::kFloat, false) && matches(src, at::kBFloat16, false) &&
                    matches(src, at::kHalf, false) && matches(src.narrow(1, 0, 1000), at::kFloat, false) &&
                    matches(src, at::kFloat, true) && tilecopy::deepspeed_py_memcpy(at::empty({512, 1024}), src) == 0;
    std::printf("tensor consumer: %s\n", ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
