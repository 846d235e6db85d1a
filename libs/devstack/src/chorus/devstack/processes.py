"""Starting and stopping a local stack's child processes, and waiting on them with deadlines."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["ServerFailedToStart", "free_port", "run_as_prefix", "stop_process", "wait_until"]


class ServerFailedToStart(RuntimeError):
    """A server we need did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_as_prefix(user: str) -> list[str]:
    """Command prefix that drops root to `user`; empty when we are not root.

    PostgreSQL refuses to run as root, so as root we run it as its own system account.
    """
    if os.geteuid() != 0:
        return []
    pwd.getpwnam(user)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerFailedToStart("running as root needs `runuser` (util-linux) to drop privileges")
    return [runuser, "-u", user, "--"]


def chown_tree(path: Path, user: str) -> None:
    """Give `path` and everything below it to `user` (only meaningful as root)."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log: Path | None = None,
) -> None:
    """Poll `check` until it holds; fail loudly with the log's tail on deadline or early death."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            break
        time.sleep(0.2)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise ServerFailedToStart(f"{what} did not become ready within {timeout:.0f}s\n{tail}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it outstays `timeout`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def spawn(
    argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group (stopping it stops its children), logged to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
