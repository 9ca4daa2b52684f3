"""One writer thread with its own SQLite connection: a write transaction is one call, not N awaits.

Why a thread of our own rather than aiosqlite's: aiosqlite 0.22 runs every call through a private
queue (``Connection._execute``) and has no public way to run a function of ours in its thread.
An async transaction over it costs three or more awaited round trips (``BEGIN IMMEDIATE``, the
statements, ``COMMIT``), each of which waits for a free turn of a busy event loop while holding
the write lock (docs/PERFORMANCE.md, "What the profile says to fix", item 2). Here the whole
transaction is a synchronous function run in one go by a thread that owns a second
``sqlite3`` connection: the lock is held for SQLite's own time only, and the loop awaits once.

Two connections on one WAL database are sound: readers on the aiosqlite connection never block
the writer and always see the last commit when their statement starts; SQLite would serialise
the two writers anyway (``busy_timeout`` stays set as the backstop, e.g. for a CLI in another
process), but we do not rely on its polling busy handler between our own connections: an async
transaction on the aiosqlite connection first *parks* this thread (:meth:`SqliteWriter.hold`), so
write transactions of both kinds run strictly one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Generic, Protocol, TypeVar

T = TypeVar("T")

URGENT: Final = 0  # the inbox insert: on the time-to-first-token path
NORMAL: Final = 1  # everything else, first come first served
_LAST: Final = 2  # stop: after every job queued before it


class WriterClosedError(RuntimeError):
    """The writer is not running (never started, or closed)."""


class _Job(Protocol):
    def run(self, conn: sqlite3.Connection) -> bool:
        """Do the job in the writer thread; False ends the thread."""
        ...


@dataclass(eq=False)
class _Transaction(Generic[T]):
    """``BEGIN IMMEDIATE``, ``fn(conn)``, ``COMMIT``; ``ROLLBACK`` when anything raises.

    With ``statement``, ``fn`` runs a single statement that SQLite commits by itself (atomic as
    a statement is), without the ``BEGIN`` and ``COMMIT`` calls.
    """

    fn: Callable[[sqlite3.Connection], T]
    future: asyncio.Future[T]
    statement: bool = False

    def run(self, conn: sqlite3.Connection) -> bool:
        # Reading the state of a loop future from this thread is a benign race: at worst a
        # transaction whose caller was cancelled just now still commits, as a cancelled await
        # of COMMIT did with the old async transaction.
        if self.future.cancelled():
            return True
        try:
            result = self.fn(conn) if self.statement else self._in_transaction(conn)
        except BaseException as exc:  # handed to the awaiting task
            _fail(self.future, exc)
        else:
            _resolve(self.future, result)
        return True

    def _in_transaction(self, conn: sqlite3.Connection) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself on a few errors
                conn.execute("ROLLBACK")
            raise
        return result


@dataclass(eq=False)
class _Park:
    """Tell the loop the thread is idle, then wait until ``release`` (an async transaction)."""

    future: asyncio.Future[None]
    release: threading.Event = field(default_factory=threading.Event)

    def run(self, conn: sqlite3.Connection) -> bool:
        del conn  # parked: the connection stays idle
        if not self.release.is_set():  # else the holder gave up before we got here
            _resolve(self.future, None)
            self.release.wait()
        return True


@dataclass(eq=False)
class _Stop:
    """Close the connection and end the thread."""

    future: asyncio.Future[None]

    def run(self, conn: sqlite3.Connection) -> bool:
        conn.close()
        _resolve(self.future, None)
        return False


class SqliteWriter:
    """A thread that owns one ``sqlite3`` connection and runs write transactions on it, in order.

    Use as ``await writer.start()`` … ``await writer.close()``. Jobs run one at a time; among
    those waiting, ``URGENT`` ones go first, then first come first served.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        # (priority, order, job): ``order`` is unique, so jobs themselves are never compared.
        self._queue: queue.PriorityQueue[tuple[int, int, _Job]] = queue.PriorityQueue()
        self._order = itertools.count()  # FIFO among equal priorities
        self._thread: threading.Thread | None = None
        self._running = False

    async def start(self) -> None:
        """Open the connection in a new thread.

        Raises:
            sqlite3.Error: The database could not be opened or configured.
        """
        if self._thread is not None:
            raise RuntimeError("writer already started")
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(opened,), name=f"sqlite-writer:{self._path.name}"
        )
        self._thread.start()
        try:
            await opened
        except BaseException:
            # Cancelled after a good open, the thread waits for jobs: stop it (if the open
            # failed, the thread has returned and this job is never read).
            self._queue.put((_LAST, next(self._order), _Stop(loop.create_future())))
            self._join()
            raise
        self._running = True

    async def close(self) -> None:
        """Finish the jobs queued so far, close the connection and end the thread (idempotent)."""
        if not self._running:
            return
        self._running = False
        stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((_LAST, next(self._order), _Stop(stopped)))
        await asyncio.shield(stopped)
        self._join()

    async def run(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        priority: int = NORMAL,
        statement: bool = False,
    ) -> T:
        """Run ``fn`` inside ``BEGIN IMMEDIATE`` … ``COMMIT`` in the writer thread.

        ``fn`` must be synchronous and must not touch the event loop; it may raise to roll the
        whole transaction back.

        Args:
            fn: The transaction's statements.
            priority: ``URGENT`` or ``NORMAL``.
            statement: ``fn`` runs exactly one statement: SQLite commits it by itself, without
                the two extra calls (each a release and re-acquisition of the GIL in this
                thread, which a busy event loop delays).

        Returns:
            What ``fn`` returned, after the commit.

        Raises:
            WriterClosedError: The writer is not running.
            Exception: Whatever ``fn``, ``BEGIN`` or ``COMMIT`` raised (rolled back).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(priority, _Transaction(fn, future, statement))
        return await future

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Keep the writer idle for the body (after the jobs queued before it have run).

        Raises:
            WriterClosedError: The writer is not running.
        """
        parked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        park = _Park(parked)
        self._put(NORMAL, park)
        try:
            await parked
            yield
        finally:
            park.release.set()  # also when cancelled before the thread got to it

    def _put(self, priority: int, job: _Job) -> None:
        if not self._running:
            raise WriterClosedError("store is not open")
        self._queue.put((priority, next(self._order), job))

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            # The thread has handed over its last outcome and is returning: a blocking join is
            # short, and cheaper than an executor thread.
            thread.join()

    def _serve(self, opened: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # handed to start()
            _fail(opened, exc)
            return
        _resolve(opened, None)
        try:
            while True:
                _priority, _order, job = self._queue.get()
                if not job.run(conn):
                    return
        finally:
            conn.close()  # a no-op after _Stop

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves. The connection lives
        # and dies in this thread (sqlite3's same-thread check stays on).
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        return conn


def _resolve(future: asyncio.Future[T], result: T) -> None:
    """Hand a result to the loop that owns ``future`` (called in the writer thread)."""

    def resolve() -> None:
        if not future.done():  # else the caller was cancelled meanwhile
            future.set_result(result)

    _call_soon(future, resolve)


def _fail(future: asyncio.Future[T], exc: BaseException) -> None:
    """Hand an exception to the loop that owns ``future`` (called in the writer thread)."""

    def fail() -> None:
        if not future.done():
            future.set_exception(exc)

    _call_soon(future, fail)


def _call_soon(future: asyncio.Future[T], callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(callback)
