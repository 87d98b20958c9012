"""tilecopy and the interpreter around it, in fresh processes: Ctrl-C during Handle.wait(), and a
script that ends while copies that need Python (a __torch_dispatch__ tensor's copy_) are still
queued."""

import os
import signal
import subprocess
import sys
import textwrap
import time

# A wrapper subclass whose copy_ runs Python on the engine's submitter thread, blocked there
# until the script says so (or for Held.sleep seconds): a copy that takes as long as the test
# needs. On the script's own thread (should the adapter ask copy_ at submission) it never blocks.
PRELUDE = textwrap.dedent("""
    import sys
    import threading
    import time
    import torch

    sys.path.insert(0, TESTS)
    from wrappers import Wrapper

    class Held(Wrapper):
        release = threading.Event()
        sleep = 0.0

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            if threading.current_thread() is threading.main_thread():
                pass
            elif Held.sleep:
                time.sleep(Held.sleep)
            else:
                Held.release.wait(120)
            return Wrapper.run(func, args, kwargs)
""").replace("TESTS", repr(os.path.dirname(os.path.abspath(__file__))))


def run_python(script, **kwargs):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(script)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_ctrl_c_interrupts_wait_while_the_copy_goes_on_and_a_later_wait_finishes_it():
    child = run_python("""
        import tilecopy
        src = torch.arange(100_000.0)
        dst = torch.zeros(100_000)
        h = tilecopy.copy_async(dst, Held(src))  # blocked in __torch_dispatch__ until released
        try:  # SIGINT may come as soon as "waiting" is out
            print("waiting", flush=True)
            h.wait()
            print("wait returned", flush=True)
        except KeyboardInterrupt:
            print(f"KeyboardInterrupt, copy done: {h.done()}", flush=True)
        Held.release.set()
        assert h.wait() is True
        print(f"copied: {torch.equal(dst, src)}", flush=True)
    """)
    try:
        assert child.stdout.readline() == "waiting\n"
        # Inside wait() by then; the copy stays blocked for 120 s unless the script releases it.
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out.splitlines() == ["KeyboardInterrupt, copy done: False", "copied: True"], (out, err)


def test_a_script_that_ends_with_copies_needing_python_still_queued_exits_cleanly_after_they_finish():
    # The report runs after tilecopy's exit hook (atexit runs the last registered first).
    child = run_python("""
        import atexit
        dsts = [torch.zeros(100_000) for _ in range(3)]
        atexit.register(lambda: print(f"copied at exit: {sum(bool(d.eq(1).all()) for d in dsts)}", flush=True))
        import tilecopy
        Held.sleep = 0.3
        handles = [tilecopy.copy_async(d, Held(torch.ones(100_000))) for d in dsts]
        print("submitted, not waiting", flush=True)
    """)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, (child.returncode, err)
    assert "FATAL" not in err and "Fatal" not in err, err
    assert out.splitlines() == ["submitted, not waiting", "copied at exit: 3"], (out, err)
