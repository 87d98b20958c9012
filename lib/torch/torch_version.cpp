// The libtorch this library runs with must be the minor version it was built for: tilecopy's
// rules are torch 1.13's (NaN bits, overlap rules, error wording), checked against 1.13 only.
// meson.build refuses to build against another version; this catches a different libtorch
// loaded at run time (LD_LIBRARY_PATH, an upgraded package), in which case every tensor copy
// goes to torch's copy_ and CopyEngine::describe() says why.
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/Version.h>
#include <torch/version.h>

#include "adapter.hpp"
#include "tensor_pair.hpp"

namespace tilecopy::detail {
namespace {

struct LoadedTorch {
    std::string version; // "1.13.0", or what could be read
    bool matches = false;
};

// "TORCH_VERSION=1.13.0," in at::show_config()'s build settings: the loaded library's own
// version (the headers' TORCH_VERSION is the one built against). $TILECOPY_TORCH_VERSION
// replaces it, for tests of the fallback.
const LoadedTorch& loaded() {
    static const LoadedTorch torch = [] {
        LoadedTorch t;
        if (const char* forced = std::getenv("TILECOPY_TORCH_VERSION"); forced && *forced) {
            t.version = forced;
        } else {
            const std::string config = at::show_config();
            const std::string key = "TORCH_VERSION=";
            const std::size_t at = config.find(key);
            if (at != std::string::npos) {
                const std::size_t begin = at + key.size();
                t.version = config.substr(begin, config.find_first_of(", \n", begin) - begin);
            }
        }
        const std::string built = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
        t.matches = t.version == built || t.version.rfind(built + ".", 0) == 0;
        if (t.version.empty()) t.version = "an unknown version";
        return t;
    }();
    return torch;
}

std::vector<std::string> describe_torch() {
    const LoadedTorch& t = loaded();
    std::string line = std::string("torch adapter: built for libtorch ") + TORCH_VERSION + ", running with " + t.version;
    line += t.matches ? ": fast paths on"
                      : ": every tensor copy goes to torch's copy_ (tilecopy's rules are checked against libtorch " +
                            std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + " only)";
    return {line};
}

// Registered when the library is loaded, removed when it is unloaded.
struct DescribeRegistration {
    DescribeRegistration() noexcept { adapter::set_describe_lines(&describe_torch); }
    ~DescribeRegistration() { adapter::set_describe_lines(nullptr); }
} registration;

} // namespace

bool loaded_torch_matches() { return loaded().matches; }

} // namespace tilecopy::detail
