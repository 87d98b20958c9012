// Whether the members of a batch share memory: spans of bytes, each owned by one member (a raw
// region, a tensor pair) and written or read, sorted and swept once. Pure and header-only: the
// raw checks (validate.cpp) and the torch adapter's batch checks use this one sweep.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace tilecopy::detail {

// Bytes [begin, end) that member `owner` of a batch writes (`written`) or reads.
struct Span {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    std::size_t owner = 0;
    bool written = false;
};

// Two spans of different members that share a byte, at least one of them written: the batch's
// result would depend on the order (or the parallel schedule) of its copies.
struct SpanConflict {
    Span first;
    Span second;
};

namespace overlap_detail {

// The spans of one kind seen so far that reach furthest: the furthest of all, and the furthest
// of any other member than that one's, which is all a sweep needs to find an overlap with a
// member other than the current span's.
struct Reach {
    const Span* far = nullptr;
    const Span* next = nullptr; // of another owner than far's

    // A span of another owner than `s`'s that reaches past its start, if any.
    const Span* clash(const Span& s) const noexcept {
        const Span* other = far && far->owner != s.owner ? far : next;
        return other && other->end > s.begin ? other : nullptr;
    }

    void add(const Span& s) noexcept {
        if (!far || s.end > far->end) {
            if (far && far->owner != s.owner) next = far;
            far = &s;
        } else if (s.owner != far->owner && (!next || s.end > next->end)) {
            next = &s;
        }
    }
};

} // namespace overlap_detail

// Sorts `spans` by address and sweeps them once (O(n log n)); true and `conflict` set when
// some conflict exists (which one is reported when there are several is unspecified). Empty
// spans never conflict; spans of one owner never conflict with each other.
inline bool find_conflict(std::vector<Span>& spans, SpanConflict& conflict) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    overlap_detail::Reach written, read;
    for (const Span& s : spans) {
        if (s.end <= s.begin) continue;
        const Span* with = written.clash(s);
        if (!with && s.written) with = read.clash(s);
        if (with) {
            conflict = SpanConflict{*with, s};
            return true;
        }
        (s.written ? written : read).add(s);
    }
    return false;
}

// Groups of spans whose extents meet, directly or through a chain of meeting spans, when a group
// holds spans of several owners: `group[i]` is the group of spans[i], or kAlone when its span
// meets no other owner's (such a span cannot conflict). `spans` is not reordered. Returns the
// number of groups.
constexpr std::size_t kAlone = std::numeric_limits<std::size_t>::max();

inline std::size_t group_meeting(const std::vector<Span>& spans, std::vector<std::size_t>& group) {
    group.assign(spans.size(), kAlone);
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < spans.size(); ++i)
        if (spans[i].end > spans[i].begin) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return spans[a].begin < spans[b].begin; });
    std::size_t groups = 0;
    std::size_t first = 0;
    while (first < order.size()) {
        std::size_t last = first + 1;
        std::uintptr_t end = spans[order[first]].end;
        bool several_owners = false;
        while (last < order.size() && spans[order[last]].begin < end) {
            end = std::max(end, spans[order[last]].end);
            several_owners = several_owners || spans[order[last]].owner != spans[order[first]].owner;
            ++last;
        }
        if (several_owners) {
            for (std::size_t k = first; k < last; ++k) group[order[k]] = groups;
            ++groups;
        }
        first = last;
    }
    return groups;
}

} // namespace tilecopy::detail
