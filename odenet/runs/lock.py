"""One process per run directory: an OS file lock on ``<run_dir>/.lock``.

On POSIX, ``fcntl.flock`` on the lock file: the operating system releases it when the
holder exits, however it exits (even killed with SIGKILL), so a stale lock cannot remain.
Elsewhere, the lock file is created with ``O_CREAT | O_EXCL``; a lock whose process no
longer runs on this host is taken over. The holder writes ``pid``, host and start time
into the file, and a refused process names them in :class:`~odenet.errors.RunDirLocked`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from odenet.errors import RunDirLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunDirLock"]

LOCK_NAME = ".lock"


def _holder_line() -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    return f"pid={os.getpid()} host={socket.gethostname()} since={stamp}\n"


def _parse_holder(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def _alive_here(holder: dict[str, str]) -> bool:
    """Whether the holder's process still runs (assumed when it is on another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", "-1")), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunDirLock:
    """Hold the lock of ``run_dir`` (a context manager; or :meth:`acquire` / :meth:`release`).

    ``use_flock=False`` forces the ``O_EXCL`` fallback (used on systems without ``fcntl``).
    Raises :class:`RunDirLocked` naming the holder (pid, host, start time) when another
    process holds it.
    """

    def __init__(self, run_dir: str | Path, use_flock: bool | None = None) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.use_flock = fcntl is not None if use_flock is None else use_flock
        self._fd: int | None = None

    def acquire(self) -> RunDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._flock() if self.use_flock else self._exclusive_create()
        os.ftruncate(self._fd, 0)
        os.write(self._fd, _holder_line().encode())
        os.fsync(self._fd)
        return self

    def _flock(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            raise self._refusal(holder) from None
        return fd

    def _exclusive_create(self) -> int:
        for _ in range(2):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.path.read_text(errors="replace")
                if _alive_here(_parse_holder(holder)):
                    raise self._refusal(holder) from None
                self.path.unlink(missing_ok=True)  # its process is gone: a stale lock
        raise self._refusal(self.path.read_text(errors="replace"))

    def _refusal(self, holder_text: str) -> RunDirLocked:
        holder = _parse_holder(holder_text)
        who = (
            f"pid {holder['pid']} on host {holder.get('host', '?')} "
            f"(since {holder.get('since', '?')})"
            if "pid" in holder
            else "another process"
        )
        return RunDirLocked(
            f"{self.path.parent} is in use by {who}: two runs would overwrite each other's "
            "checkpoints. Wait for that run to end, or give this one another directory "
            "(hydra.run.dir=... or leave it out for a fresh one)"
        )

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self.use_flock:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock
        else:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
