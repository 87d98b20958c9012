// tilecopy::set_async_job_runner: for language bindings whose copies may call back into a
// runtime with per-thread state.
#pragma once

#include <tilecopy/export.hpp>

namespace tilecopy {

// Called on the thread that runs an asynchronous copy (an engine's submitter thread, or the
// caller's for copies small enough to run at submission), once per copy: it must call
// job(arg) exactly once, and let what job throws propagate (after taking what it needs from
// it). A binding uses it to give those threads what its runtime expects of them for the
// copy's whole duration: the Python package keeps a CPython thread state on submitter threads,
// so that an exception raised by a __torch_dispatch__ called from copy_ survives until torch's
// python_error is persisted and can be raised again from Handle.wait() on the caller's thread.
// nullptr (the default) runs jobs directly. Process-wide; set it before the first copy.
using AsyncJobRunner = void (*)(void (*job)(void*), void* arg);
TILECOPY_API void set_async_job_runner(AsyncJobRunner runner) noexcept;

} // namespace tilecopy
