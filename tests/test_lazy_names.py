"""Public names loaded on first use (neureus/__init__.py) look the same however they were
first reached: an object the SDK hands out before its class was ever read as ``neureus.X``
shows ``neureus`` as its class's module (reprs, tracebacks, pickles), and two threads
reading lazy names at once both get the one class. Each check runs in a fresh interpreter,
where nothing has been loaded yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
