// fork(): a child process has only the thread that forked. oneTBB's workers, the engine's
// submitter thread and any lock they held do not exist there, and oneTBB's global state still
// believes they do (an arena made in the child may never get a worker: measured, its enqueued
// tasks never ran). So once tilecopy has started oneTBB workers in a process, engines in its
// forked descendants run every copy serially on the calling thread.
#pragma once

namespace tilecopy::detail {

// Increases in every child process created by fork() (a pthread_atfork handler).
unsigned fork_generation() noexcept;

// Called when tilecopy first hands work to oneTBB's workers in this process.
void note_workers_started() noexcept;

// True in a forked descendant of a process where tilecopy had started oneTBB workers.
bool workers_unusable() noexcept;

} // namespace tilecopy::detail
