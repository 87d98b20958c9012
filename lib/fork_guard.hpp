// fork(): a child process has only the thread that forked. oneTBB's workers, the engine's
// submitter thread and any lock they held do not exist there, so an engine made before the
// fork must not enter its arenas, wake its submitter, or join threads in the child. Engines
// compare their generation with the process's: cheap enough for every copy.
#pragma once

namespace tilecopy::detail {

// Increases in every child process created by fork() (a pthread_atfork handler).
unsigned fork_generation() noexcept;

} // namespace tilecopy::detail
