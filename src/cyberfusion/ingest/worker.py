"""The ingest worker: a second process parses, validates and prepares a file while the import writes.

An import's CPU is about half reading the file (JSON, validation, pattern normalisation, the
canonical text and columns: ``rows.prepare``) and half storing it. For a large file
(``PARALLEL_MIN_BYTES``) ``pipeline.import_file`` hands the first half to this worker: it reads
the file and sends ``Prepared`` rows, in chunks and in file order, while the importer writes the
chunk before. The database, the transaction and every decision about what is stored stay in the
importing process; the worker only turns bytes into rows, with the very function the in-process
path uses. A bad object comes back as the same ``InvalidInput`` (file, object, field), at the
same position in the stream, so the import still fails whole, before or after the lock exactly
as it would have in-process.

The process is a fresh interpreter (``subprocess`` with ``sys.executable``: fork-and-exec, safe
in the multi-threaded server, the semantics of multiprocessing's "spawn" start method; that
start method itself re-runs the parent's ``__main__`` in the child, i.e. the ``cfc`` command's
whole CLI import, which is why it is not used). It is given the parent's ``sys.path`` so it
imports the same code. It ends with its file, when the importer closes it (any exit of the
import: error, rollback, "same file" found under the lock), and by itself when the importer's
process is gone, even killed (its stdin reaches end of file: a watcher thread exits at once).
If it cannot be started, or dies, the import goes on in-process (after a death, the rows
already received are kept and the parsing resumes in-process after them).
"""

from __future__ import annotations

import gc
import logging
import marshal
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from cyberfusion.errors import InvalidInput
from cyberfusion.ingest.rows import Prepared, prepare
from cyberfusion.kit.gcutil import IMPORT_GC_THRESHOLD

log = logging.getLogger(__name__)

# Prepared objects per message. Small enough that the importer waits little for the first one
# and the pipe holds little; large enough that pickling per message is amortised.
CHUNK = 500
BUFFERED = 32  # messages: ~16 MB, 16,000 objects ahead at most
_PROTOCOL = pickle.HIGHEST_PROTOCOL
# A message of rows in marshal's format starts with this byte (a pickle starts with 0x80). On
# SQLite every value of a Prepared row is a str, int, float, bool, None, list, tuple or dict (the
# timestamps are text: rows.prepare for SQLite), which marshal writes and reads back as they
# were, 1.5-2x faster than pickle (50,000 benchmark indicators: dumps 0.21 -> 0.12 s, loads 0.23
# -> 0.16 s of CPU); a chunk holding anything else (a datetime on PostgreSQL) goes as a pickle.
_MARSHAL = b"M"
IMPORTER_ARG = "--cyberfusion-ingest-worker-of="
_BOOT = ("import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
         "from cyberfusion.ingest.worker import serve; serve()")


class Worker:
    """The importer's side: start the worker on a file, iterate its Prepared rows, close it."""

    def __init__(self, *, fmt: str, path: Path, file_name: str, mapping: dict[str, str] | None,
                 default_time: datetime | None, fallback: Callable[[], Iterator[Prepared]],
                 sqlite_rows: bool = False,
                 popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen) -> None:
        self.fallback = fallback
        self.cpu_seconds = 0.0  # the worker's own CPU time, known once it has finished
        self.received = 0
        self.done = False
        self.proc: subprocess.Popen[bytes] | None = None
        # Messages (pickled bytes) read off the pipe by a thread as soon as the worker writes
        # them, up to BUFFERED ahead of the importer: the worker goes on parsing while the importer
        # inserts a batch or commits, instead of waiting on a full pipe for it to read.
        self.messages: queue.Queue[bytes | None] = queue.Queue(BUFFERED)
        self.stop = threading.Event()
        self.reader: threading.Thread | None = None
        job = {"fmt": fmt, "path": str(path), "file_name": file_name, "mapping": mapping,
               "default_time": default_time,
               "sqlite_rows": sqlite_rows}
        try:
            # The importer's pid in the command line: `ps` shows whose worker it is.
            self.proc = popen([sys.executable, "-c", _BOOT, f"{IMPORTER_ARG}{os.getpid()}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              close_fds=True)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            _widen(self.proc.stdout)
            pickle.dump(list(sys.path), self.proc.stdin, _PROTOCOL)
            pickle.dump(job, self.proc.stdin, _PROTOCOL)
            self.proc.stdin.flush()  # stdin stays open: its end of file tells the worker to stop
            self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True,
                                           name="ingest-worker-reader")
            self.reader.start()
        except (OSError, ValueError) as exc:
            log.warning("ingest worker could not be started (%s); importing in-process", exc)
            self.close()

    def __iter__(self) -> Iterator[Prepared]:
        proc = self.proc
        if proc is None:
            yield from self.fallback()
            return
        while True:
            message = self.messages.get()
            try:
                if message is None:
                    raise EOFError("no more messages")
                kind, payload = _decode(message)
            except (EOFError, ValueError, TypeError, pickle.UnpicklingError) as exc:
                log.warning("ingest worker ended early (%s, exit %s); parsing the rest in-process",
                            type(exc).__name__, proc.poll())
                self.close()
                yield from islice(self.fallback(), self.received, None)
                return
            if kind == "rows":
                self.received += len(payload)
                yield from payload
            elif kind == "end":
                self.cpu_seconds, self.done = payload, True
                return
            elif kind == "invalid":
                raise InvalidInput(payload)
            else:  # "failed": what the parser raised besides InvalidInput (a bug, MemoryError …)
                raise payload

    def _read(self, stream: BinaryIO) -> None:
        """The reader thread: length-prefixed messages off the pipe into the queue, then None."""
        try:
            while not self.stop.is_set():
                head = stream.read(8)
                if len(head) < 8:
                    break
                size = int.from_bytes(head, "little")
                body = stream.read(size)
                if len(body) < size:
                    break
                self._put(body)
        except (OSError, ValueError):
            pass
        self._put(None)

    def _put(self, message: bytes | None) -> None:
        while not self.stop.is_set():
            try:
                self.messages.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self.stop.set()
        if not self.done:  # stopped half-way: no need to wait for the rest of its file
            proc.terminate()
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the worker exits at its stdin's end of file in any case
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)  # the pipe is at its end: the worker is gone
        if proc.stdout is not None:
            proc.stdout.close()


def _decode(message: bytes) -> tuple[str, Any]:
    """(kind, payload) of one message: rows in marshal's format (_send_rows), or a pickle."""
    if message[:1] == _MARSHAL:
        return "rows", list(map(Prepared._make, marshal.loads(memoryview(message)[1:])))
    kind, payload = pickle.loads(message)
    return kind, payload


def _widen(pipe: BinaryIO) -> None:
    """Let the pipe hold 1 MiB (Linux; 64 KiB by default): the worker goes on parsing while the
    importer is busy inserting a batch, instead of waiting for it to read."""
    try:
        import fcntl
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


# ---------------------------------------------------------------- the worker's side


def _stop_when_orphaned() -> None:
    """Exit as soon as the importer closes our stdin or its process is gone (raw reads of fd 0:
    no lock of sys.stdin's buffer, which interpreter shutdown would wait for)."""
    try:
        while os.read(0, 1 << 16):
            pass
    finally:
        os._exit(0)


def _send(out: BinaryIO, kind: str, payload: Any) -> None:
    message = pickle.dumps((kind, payload), _PROTOCOL)
    _write(out, message)


def _write(out: BinaryIO, message: bytes) -> None:
    out.write(len(message).to_bytes(8, "little"))
    out.write(message)
    out.flush()


def _send_rows(out: BinaryIO, chunk: list[Prepared], plain: bool) -> None:
    """A chunk of rows: in marshal's format when ``plain`` (SQLite's values, see _MARSHAL) and
    marshal can write them all, else pickled."""
    if plain:
        try:
            body = marshal.dumps(list(map(tuple, chunk)))
        except ValueError:  # a value marshal does not write: this chunk goes as a pickle
            pass
        else:
            _write(out, _MARSHAL + body)
            return
    _send(out, "rows", chunk)


def serve() -> None:
    """Read one job from stdin, send its Prepared rows to stdout, then the end (or the error)."""
    job = pickle.load(sys.stdin.buffer)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the row stream
    threading.Thread(target=_stop_when_orphaned, daemon=True).start()
    # As the importer does while it runs (pipeline.IMPORT_GC_THRESHOLD, older_objects_frozen): the
    # modules just imported set aside, the young generation collected less often.
    gc.freeze()
    gc.set_threshold(IMPORT_GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        _work(job, out)
    except BrokenPipeError:  # the importer is gone
        pass
    os._exit(0)  # all sent and flushed; no interpreter shutdown beside the watcher thread


def _work(job: dict[str, Any], out: BinaryIO) -> None:
    from cyberfusion.ingest.formats import parse

    chunk: list[Prepared] = []
    sqlite_rows = job.get("sqlite_rows", False)
    memo: dict[Any, str] | None = {} if sqlite_rows else None
    try:
        for item in parse(job["fmt"], Path(job["path"]), file_name=job["file_name"], errors=None,
                          mapping=job["mapping"], default_time=job["default_time"]):
            chunk.append(prepare(item, memo))
            if len(chunk) >= CHUNK:
                _send_rows(out, chunk, sqlite_rows)
                chunk = []
    except InvalidInput as exc:
        _send_rows(out, chunk, sqlite_rows)
        _send(out, "invalid", exc.problems)
        return
    except Exception as exc:  # noqa: BLE001 - handed to the importer, which raises it
        _send_rows(out, chunk, sqlite_rows)
        try:
            pickle.dumps(exc, _PROTOCOL)
        except Exception:  # noqa: BLE001
            exc = RuntimeError(f"ingest worker: {type(exc).__name__}: {exc}")
        _send(out, "failed", exc)
        return
    _send_rows(out, chunk, sqlite_rows)
    _send(out, "end", time.process_time())
