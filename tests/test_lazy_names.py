"""Public names loaded on first use (neureus/__init__.py) look the same however they were
first reached: an object the SDK hands out before its class was ever read as ``neureus.X``
shows ``neureus`` as its class's module (reprs, tracebacks, pickles), and two threads
reading lazy names at once both get the one class. Each check runs in a fresh interpreter,
where nothing has been loaded yet."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import types
from importlib.machinery import ModuleSpec

import pytest


def run_fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_objects_handed_out_first_show_the_public_module() -> None:
    out = run_fresh(
        """
        import pickle, sys
        import neureus
        from neureus.testing import FakeGateway

        records = []

        class Hook:
            def on_response(self, record):
                records.append(record)

        gateway = FakeGateway()
        client = gateway.client(max_retries=0, hooks=[Hook()])
        stream = client.ai.stream([{"role": "user", "content": "x"}])
        stream.until_done()
        batch = client.ai.chat_many(["a"])
        usage = client.usage
        item = batch[0] if isinstance(batch, list) else next(iter(batch))
        handed = {"stream": stream, "usage": usage, "record": records[0], "item": item}
        for what, obj in handed.items():
            print(what, type(obj).__module__)
        # The pickle names the public module, and loads in a process that never read it.
        print("pickled", b"neureus._usage" not in pickle.dumps(usage))
        print(pickle.dumps((usage, neureus.OutputValidationError("no", raw_replies=[], errors=[]))).hex())
        """
    )
    pickled = out.splitlines().pop()
    out = "\n".join(out.splitlines()[:-1])
    loaded = run_fresh(
        f"""
        import pickle, sys
        usage, error = pickle.loads(bytes.fromhex("{pickled}"))
        import neureus
        assert "neureus._structured" in sys.modules  # loaded by the unpickling
        assert type(error) is neureus.OutputValidationError and type(usage) is neureus.Usage
        try:
            raise error
        except neureus.OutputValidationError as caught:
            print(type(caught).__name__, usage.calls)  # the stream and the batch
        """
    )
    assert loaded.split() == ["OutputValidationError", "2"], loaded
    assert out.splitlines() == [
        "stream neureus",
        "usage neureus",
        "record neureus",
        "item neureus",
        "pickled True",
    ], out


def test_threads_reading_lazy_names_at_once_get_one_class_each() -> None:
    out = run_fresh(
        """
        import sys, threading
        import neureus
        from neureus.testing import FakeGateway

        names = ["OutputValidationError", "Usage", "HookRecord", "ChatStream", "BatchItem", "ChatResponse"]
        start = threading.Barrier(8)
        seen = []
        gateway = FakeGateway()
        client = gateway.client(max_retries=0)

        def first_use():
            start.wait(timeout=30)
            client.ai.chat([{"role": "user", "content": "x"}])  # the ledger's first load too
            seen.append(tuple(getattr(neureus, name) for name in names))

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(seen) == 8 and len(set(seen)) == 1, seen
        assert all(cls.__module__ in ("neureus", "neureus.types") for cls in seen[0])
        print(client.usage.calls)
        """
    )
    assert out.split() == ["8"], out


def test_a_fork_while_another_thread_loads_a_module_on_first_use_never_hangs_the_child() -> None:
    """The ledger's module loads with a client's first call. A process that forks while
    another thread is in that load must not hand its child the module's import lock held
    by a thread the child does not have: the child's first call would wait forever."""
    out = run_fresh(
        """
        import importlib.abc, importlib.util, os, signal, sys, threading, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # forking with threads, on purpose
        import neureus
        from neureus.testing import FakeGateway

        inside, release = threading.Event(), threading.Event()

        class SlowLedger(importlib.abc.MetaPathFinder):
            # Holds neureus._usage's import (and its lock) open until released.
            def find_spec(self, name, path, target=None):
                if name != "neureus._usage":
                    return None
                sys.meta_path.remove(self)
                spec = importlib.util.find_spec(name)
                real = spec.loader

                class Loader(importlib.abc.Loader):
                    def create_module(self, spec):
                        return real.create_module(spec)

                    def exec_module(self, module):
                        inside.set()
                        release.wait(5)
                        real.exec_module(module)

                spec.loader = Loader()
                return spec

        sys.meta_path.insert(0, SlowLedger())
        client = FakeGateway().client(max_retries=0)
        first = threading.Thread(target=client.ai.chat, args=([{"role": "user", "content": "a"}],))
        first.start()
        assert inside.wait(5)
        threading.Timer(0.2, release.set).start()
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)  # a hung child ends here, with SIGALRM
            client.ai.chat([{"role": "user", "content": "b"}])
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        first.join(5)
        print(os.waitstatus_to_exitcode(status), client.usage.calls)
        """
    )
    assert out.split() == ["0", "1"], out


class _HeldImport:
    """``neureus._fork_probe``, imported by another thread that holds its import lock
    until released: while its file is found, or while its code runs."""

    NAME = "neureus._fork_probe"

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.inside = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=importlib.import_module, args=(self.NAME,), daemon=True)

    def _hold(self, stage: str) -> None:
        if stage == self.stage:
            self.inside.set()
            self.release.wait(10)

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name != self.NAME:
            return None
        self._hold("finding")  # the lock is held, the module not yet in sys.modules
        return ModuleSpec(name, self)  # type: ignore[arg-type]

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        self._hold("executing")  # the module is in sys.modules, half made
        module.ready = True  # type: ignore[attr-defined]

    def __enter__(self) -> _HeldImport:
        sys.meta_path.insert(0, self)
        self.thread.start()
        assert self.inside.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)
        sys.meta_path.remove(self)
        sys.modules.pop(self.NAME, None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking with threads, on purpose
@pytest.mark.parametrize("stage", ["finding", "executing"])
def test_a_fork_while_another_thread_holds_a_neureus_import_lock_never_hangs_the_child(stage: str) -> None:
    """In this process (so that mutation testing sees the hook run): another thread is in
    the import of a neureus module, holding its import lock, when this one forks. The
    child, which has no such thread, imports the module and must get it whole."""
    with _HeldImport(stage) as held:
        threading.Timer(0.2, held.release.set).start()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; it always ends with os._exit
            code = 3
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(5)  # a child waiting on the orphaned lock ends here, killed by SIGALRM
                code = 0 if importlib.import_module(held.NAME).ready else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_fork_hook_holds_pydantics_build_lock_across_the_fork() -> None:
    """pydantic's build lock is held from before the fork to after it (in the parent and
    the child alike), so no model's schema is half-built in the child."""
    import pydantic.main

    import neureus

    neureus._before_fork()
    try:
        held = pydantic.main._rebuild_lock
        results: list[bool] = []
        other = threading.Thread(target=lambda: results.append(held.acquire(timeout=0.01)))
        other.start()
        other.join(5)
        assert results == [False]  # held across the fork
    finally:
        neureus._after_fork()
    assert pydantic.main._rebuild_lock.acquire(timeout=1)
    pydantic.main._rebuild_lock.release()
