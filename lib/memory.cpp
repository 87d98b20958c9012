// Host memory: HostBuffer and CopyEngine::allocate / prefault.
#include <tilecopy/copy_engine.hpp>
#include <tilecopy/memory.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

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
      huge_advised_(std::exchange(other.huge_advised_, false)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
        reset();
        mapping_ = std::exchange(other.mapping_, nullptr);
        mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        huge_advised_ = std::exchange(other.huge_advised_, false);
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
}

HostBuffer HostBuffer::adopt(void* mapping, std::size_t mapping_bytes, void* data, std::size_t size,
                             bool huge_advised) noexcept {
    HostBuffer b;
    b.mapping_ = mapping;
    b.mapping_bytes_ = mapping_bytes;
    b.data_ = data;
    b.size_ = size;
    b.huge_advised_ = huge_advised;
    return b;
}

// A first, serial version: the mapping (2 MiB aligned when large), no advice, populated here.
HostBuffer CopyEngine::allocate(std::size_t bytes, const AllocOptions& options) {
    if (bytes == 0) return HostBuffer();
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    constexpr std::size_t huge = std::size_t(2) << 20;
    const std::size_t align = bytes >= huge ? huge : page;
    const std::size_t rounded = (bytes + page - 1) / page * page;
    if (rounded < bytes || rounded + align < rounded)
        throw Error("tilecopy: allocate(" + std::to_string(bytes) + " bytes): size too large");
    const std::size_t mapping_bytes = rounded + (align > page ? align : 0);
    void* mapping = ::mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        throw Error("tilecopy: allocate(" + std::to_string(bytes) + " bytes): mmap failed: " + std::strerror(errno));
    const auto base = reinterpret_cast<std::uintptr_t>(mapping);
    void* data = reinterpret_cast<void*>((base + align - 1) / align * align);
    HostBuffer buffer = HostBuffer::adopt(mapping, mapping_bytes, data, bytes, false);
    if (options.populate == Populate::Now) prefault(data, rounded, true);
    return buffer;
}

void CopyEngine::prefault(const void* data, std::size_t bytes, bool for_write) {
    if (bytes == 0) return;
    if (data == nullptr) throw Error("tilecopy: prefault: null pointer with " + std::to_string(bytes) + " bytes");
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(data) / page * page;
    const auto end = reinterpret_cast<std::uintptr_t>(data) + bytes;
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    const int advice = for_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
    if (::madvise(reinterpret_cast<void*>(begin), end - begin, advice) == 0) return;
    const int err = errno;
    if (err != EINVAL)
        throw Error("tilecopy: prefault of [" + std::to_string(reinterpret_cast<std::uintptr_t>(data)) + ", +" +
                    std::to_string(bytes) + ") for " + (for_write ? "write" : "read") + ": " + std::strerror(err));
    // Kernels before 5.14 lack the advice: touch each page (a write that keeps its value).
    for (std::uintptr_t p = begin; p < end; p += page) {
        auto* byte = reinterpret_cast<volatile unsigned char*>(p);
        if (for_write)
            __atomic_fetch_or(reinterpret_cast<unsigned char*>(p), 0, __ATOMIC_RELAXED);
        else
            (void)*byte;
    }
}

} // namespace tilecopy
