// The Python package's threads and the GIL: releasing it around copies and waits, and the
// CPython thread state of the engines' threads, which run copies that may call into Python.
#pragma once

#include <torch/csrc/Exceptions.h> // python_error, and Python.h before anything else

namespace tilecopy::python {

// The GIL released for the scope: PyEval_SaveThread directly, which is all that
// py::gil_scoped_release does on this path, minus its bookkeeping (the 4 KiB call counts it).
class NoGil {
public:
    NoGil() noexcept : state_(PyEval_SaveThread()) {}
    ~NoGil() { PyEval_RestoreThread(state_); }
    NoGil(const NoGil&) = delete;
    NoGil& operator=(const NoGil&) = delete;

private:
    PyThreadState* state_;
};

// Asynchronous copies run on threads Python did not start (the engines' submitter threads). A
// __torch_dispatch__ that raises there leaves its exception in the thread's CPython state and
// torch throws python_error, which must take the exception with it (persist()) before it
// crosses to the thread that calls wait(). pybind11 and PyGILState give such a thread a new
// state on each GIL acquisition and delete it, exception included, when the acquisition ends:
// so each submitter thread keeps one state for its lifetime, as torch's autograd threads do
// (PythonEngine::thread_init). PyThreadState_New needs no GIL; deleting the state does, so a
// thread that ends while the interpreter runs takes the GIL once (Engine's destructor releases
// it before joining the threads); after finalization began, the interpreter frees it itself.
inline PyInterpreterState* interpreter = nullptr; // set at import

class ThreadState {
public:
    ThreadState() noexcept {
        if (interpreter && Py_IsInitialized() && !_Py_IsFinalizing() && !PyGILState_GetThisThreadState())
            state_ = PyThreadState_New(interpreter);
    }
    ~ThreadState() {
        if (!state_ || !Py_IsInitialized() || _Py_IsFinalizing()) return;
        PyEval_RestoreThread(state_);
        PyThreadState_Clear(state_);
        PyThreadState_DeleteCurrent();
    }
    ThreadState(const ThreadState&) = delete;
    ThreadState& operator=(const ThreadState&) = delete;

private:
    PyThreadState* state_ = nullptr;
};

// The AsyncJobRunner: every asynchronous copy runs through it, on a submitter thread or (small
// copies) on the caller's, where the GIL is released too and the exception must not stay set.
inline void run_async_job(void (*job)(void*), void* arg) {
    thread_local ThreadState state;
    try {
        job(arg);
    } catch (python_error& e) {
        e.persist(); // Handle.wait() raises it again, traceback included (the translator restores it)
        throw;
    }
}


} // namespace tilecopy::python
