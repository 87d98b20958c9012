// Host memory: HostBuffer and CopyEngine::allocate / prefault.
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/memory.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "engine.hpp"

namespace tilecopy {

const char* huge_pages_name(HugePages policy) noexcept {
    switch (policy) {
    case HugePages::Default: return "default";
    case HugePages::Auto: return "auto";
    case HugePages::Always: return "always";
    case HugePages::Never: return "never";
    }
    return "unknown";
}

HugePages parse_huge_pages(const std::string& text) {
    if (text == "auto") return HugePages::Auto;
    if (text == "always") return HugePages::Always;
    if (text == "never") return HugePages::Never;
    throw Error("tilecopy: huge-page policy '" + text + "': expected auto, always or never");
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)), mapping_bytes_(std::exchange(other.mapping_bytes_, 0)),
      data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      huge_advised_(std::exchange(other.huge_advised_, false)), bound_(std::exchange(other.bound_, false)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
        reset();
        mapping_ = std::exchange(other.mapping_, nullptr);
        mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        huge_advised_ = std::exchange(other.huge_advised_, false);
        bound_ = std::exchange(other.bound_, false);
    }
    return *this;
}

HostBuffer::~HostBuffer() { reset(); }

void HostBuffer::reset() noexcept {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_bytes_);
    mapping_ = nullptr;
    mapping_bytes_ = 0;
    data_ = nullptr;
    size_ = 0;
    huge_advised_ = false;
    bound_ = false;
}

HostBuffer HostBuffer::adopt(void* mapping, std::size_t mapping_bytes, void* data, std::size_t size,
                             bool huge_advised, bool bound) noexcept {
    HostBuffer b;
    b.mapping_ = mapping;
    b.mapping_bytes_ = mapping_bytes;
    b.data_ = data;
    b.size_ = size;
    b.huge_advised_ = huge_advised;
    b.bound_ = bound;
    return b;
}

namespace {

std::string hex(std::uintptr_t value) {
    char text[2 + 2 * sizeof value + 1];
    std::snprintf(text, sizeof text, "0x%zx", static_cast<std::size_t>(value));
    return text;
}

std::string range_text(std::uintptr_t begin, std::uintptr_t end) { return "[" + hex(begin) + ", " + hex(end) + ")"; }

std::string errno_text(int err) {
    const char* name = err == ENOMEM ? "ENOMEM" : err == EFAULT ? "EFAULT" : err == EINVAL ? "EINVAL" : nullptr;
    return "errno " + (name ? std::string(name) : std::to_string(err)) + ": " + std::strerror(err);
}

// A range's mappings as /proc/self/maps lists them, read only as far as the range's end (the
// kernel writes the file in address order, a page at a time, as it is read).
struct MapsProbe {
    int err = 0; // 0: every page mapped with the access asked; else ENOMEM (a hole) or EFAULT
    std::uintptr_t bad_begin = 0, bad_end = 0;
};

MapsProbe probe_mappings(std::uintptr_t begin, std::uintptr_t end, bool for_write) {
    MapsProbe probe;
    const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return probe; // no /proc: madvise itself reports what is wrong
    std::uintptr_t cursor = begin;
    std::string pending;
    char chunk[16384];
    bool done = false;
    while (!done) {
        const ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got <= 0) break;
        pending.append(chunk, std::size_t(got));
        std::size_t line_start = 0;
        for (std::size_t nl; !done && (nl = pending.find('\n', line_start)) != std::string::npos; line_start = nl + 1) {
            // "start-end perms offset dev inode path"
            const char* line = pending.c_str() + line_start;
            char* after = nullptr;
            const std::uintptr_t lo = std::strtoull(line, &after, 16);
            if (!after || *after != '-') continue;
            const std::uintptr_t hi = std::strtoull(after + 1, &after, 16);
            const char* const eol = pending.c_str() + nl;
            if (!after || after + 3 > eol || after[0] != ' ') continue; // " rw" must follow
            if (hi <= cursor) continue;
            if (lo > cursor) { // a hole before this mapping
                probe = {ENOMEM, cursor, std::min(lo, end)};
                done = true;
                break;
            }
            const bool ok = after[1] == 'r' && (!for_write || after[2] == 'w');
            if (!ok) {
                probe = {EFAULT, cursor, std::min(hi, end)};
                done = true;
                break;
            }
            cursor = hi;
            if (cursor >= end) done = true;
        }
        pending.erase(0, line_start);
    }
    ::close(fd);
    if (probe.err == 0 && cursor < end) probe = {ENOMEM, cursor, end};
    return probe;
}

// Guards a fresh mapping until a HostBuffer owns it.
struct Mapping {
    void* base = nullptr;
    std::size_t bytes = 0;
    ~Mapping() {
        if (base) ::munmap(base, bytes);
    }
};

} // namespace

HostBuffer CopyEngine::allocate(std::size_t bytes, const AllocOptions& options) {
    const std::string what = "tilecopy: allocate(" + std::to_string(bytes) + " bytes)";
    if (options.placement > Placement::Copier || options.populate > Populate::FirstCopy ||
        options.huge_pages > HugePages::Never)
        throw Error(what + ": AllocOptions holds a value outside its enums");
    const std::size_t nodes = impl_->scheduler().topology().nodes().size();
    if (options.placement == Placement::Node && (options.node < 0 || std::size_t(options.node) >= nodes))
        throw Error(what + ": AllocOptions::node " + std::to_string(options.node) + " is not a node of this topology (" +
                    std::to_string(nodes) + " nodes)");
    if (bytes == 0) return HostBuffer();
    const std::size_t page = impl_->scheduler().topology().page_bytes();
    const std::size_t huge = detail::kHugePageBytes;
    const std::size_t align = bytes >= huge ? huge : page;
    const std::size_t rounded = (bytes + page - 1) / page * page;
    if (rounded < bytes || rounded + align < rounded) throw Error(what + ": size too large");
    Mapping mapping;
    mapping.bytes = rounded + (align > page ? align : 0);
    void* base = ::mmap(nullptr, mapping.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw Error(what + ": mmap failed: " + errno_text(errno));
    mapping.base = base;
    char* data = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(base) + align - 1) / align * align);

    const detail::MemoryStrategy& memory = impl_->memory();
    const HugePages policy = options.huge_pages == HugePages::Default ? memory.huge_pages.value : options.huge_pages;
    const detail::HugePageDecision advice =
        detail::decide_huge_pages(policy, memory.thp, rounded, &detail::free_huge_bytes);
    const bool advised = advice.advise_bytes && ::madvise(data, advice.advise_bytes, MADV_HUGEPAGE) == 0;

    bool bound = false;
    if (options.placement == Placement::Node || options.placement == Placement::Interleave) {
        const int node = options.placement == Placement::Node ? options.node : detail::Topology::kInterleave;
        const int err = impl_->bind_area(data, rounded, node);
        if (err != 0 && err != ENOSYS)
            throw Error(what + ": binding to " +
                        (node >= 0 ? "node " + std::to_string(node) : std::string("every node (interleave)")) +
                        " failed: " + errno_text(err));
        bound = err == 0;
    }

    // Copier leaves every page to the copy's workers, whatever `populate` says.
    if (options.populate == Populate::Now && options.placement != Placement::Copier) {
        // Default placement: first touch, in turn over the arenas; a bound buffer lands where
        // its binding says whoever touches it, so its own node's arena does the work.
        const int on = options.placement == Placement::Node ? options.node : detail::Engine::kInTurn;
        if (const int err = impl_->populate(data, rounded, true, on))
            throw Error(what + ": populating its pages failed: " + errno_text(err));
    }
    HostBuffer buffer = HostBuffer::adopt(mapping.base, mapping.bytes, data, bytes, advised, bound);
    mapping.base = nullptr;
    return buffer;
}

void CopyEngine::prefault(const void* data, std::size_t bytes, bool for_write) {
    if (bytes == 0) return;
    const char* const access = for_write ? "write" : "read";
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    const std::string what = "tilecopy: prefault(" + hex(begin) + ", " + std::to_string(bytes) + " bytes) for " + access;
    if (data == nullptr) throw Error(what + ": null pointer");
    if (begin + bytes < begin) throw Error(what + ": the range wraps around the address space");
    const std::size_t page = impl_->scheduler().topology().page_bytes();
    const std::uintptr_t first = begin / page * page;
    const std::uintptr_t last = begin + bytes;
    const MapsProbe probe = probe_mappings(first, last, for_write);
    if (probe.err == ENOMEM)
        throw Error(what + ": " + range_text(probe.bad_begin, probe.bad_end) + " is not mapped (" +
                    errno_text(ENOMEM) + ")");
    if (probe.err)
        throw Error(what + ": " + range_text(probe.bad_begin, probe.bad_end) + " is not " +
                    (for_write ? "writable" : "readable") + " (" + errno_text(EFAULT) + ")");
    const std::uintptr_t end = (last + page - 1) / page * page;
    if (const int err = impl_->populate(reinterpret_cast<void*>(first), end - first, for_write,
                                        detail::Engine::kWherePagesAre))
        throw Error(what + ": " + range_text(first, end) + ": populating failed (" + errno_text(err) + ")");
}

} // namespace tilecopy
