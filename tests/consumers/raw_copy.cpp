// A consumer of the installed core library, built with `pkg-config --cflags --libs tilecopy`
// only (tools/ci-consumers.sh): a copy, a batch and an asynchronous copy, checked with memcmp.
#include <cstdio>
#include <cstring>
#include <vector>

#include <tilecopy/tilecopy.hpp>

int main() {
    tilecopy::CopyEngine engine;
    const std::size_t bytes = (std::size_t(3) << 20) + 17;
    std::vector<unsigned char> src(bytes), dst(bytes), again(bytes);
    for (std::size_t i = 0; i < bytes; ++i) src[i] = static_cast<unsigned char>(i * 131 + (i >> 9));

    engine.copy(dst.data(), src.data(), bytes);
    const std::vector<tilecopy::Region> halves{{again.data(), src.data(), bytes / 2},
                                               {again.data() + bytes / 2, src.data() + bytes / 2, bytes - bytes / 2}};
    engine.copy_batch(halves);
    std::vector<unsigned char> later(bytes);
    tilecopy::CopyHandle handle = engine.copy_async(later.data(), src.data(), bytes);
    handle.wait();

    bool refused = false;
    try {
        engine.copy(src.data() + 1, src.data(), 64);
    } catch (const tilecopy::Error&) {
        refused = true;
    }
    const bool ok = dst == src && again == src && later == src && refused;
    std::printf("raw consumer (tilecopy %s, kernel %s): %s\n", TILECOPY_VERSION, engine.kernel(), ok ? "ok" : "MISMATCH");
    return ok ? 0 : 1;
}
