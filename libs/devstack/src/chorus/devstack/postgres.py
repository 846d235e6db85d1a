"""A throwaway PostgreSQL server from the Debian package, on a loopback port, in a folder we own."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from chorus.devstack.processes import (
    ServerFailedToStart,
    chown_tree,
    free_port,
    port_open,
    run_as_prefix,
    wait_until,
)

__all__ = ["LocalPostgres"]

SYSTEM_USER = "postgres"


def _bin_dir() -> Path:
    # Debian keeps initdb and pg_ctl off PATH, in the versioned lib folder.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ServerFailedToStart("PostgreSQL is not installed (apt package `postgresql`)")
    return Path(found[-1])


@dataclass
class LocalPostgres:
    """`with LocalPostgres(root=...) as pg: pg.url` gives a running server and stops it after."""

    root: Path
    port: int = field(default_factory=free_port)
    database: str = "chorus"
    user: str = "chorus"
    password: str = "chorus"
    durable: bool = True
    # PostgreSQL's own default: Chorus's connection budget (README) must fit in it.
    max_connections: int = 100
    # PostgreSQL's own default, ample for tests and `make run`; `make bench-staging
    # ARGS="--shared-buffers 1GB"` sizes it to hold a million shares and their indexes.
    shared_buffers: str = "128MB"
    # More server settings, name to value: a bench's `shared_preload_libraries`, say.
    settings: dict[str, str] = field(default_factory=dict)
    # Where the server's files really are: `root` itself, or (when the server runs as another
    # user who cannot reach `root`, as in a checkout under /root) a folder of its own under
    # the system's temporary folder, which `root/server` points at.
    _home: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = self._find_home()
        return self._home

    @property
    def _data(self) -> Path:
        return self.home / "data"

    @property
    def _log(self) -> Path:
        return self.home / "postgres.log"

    def _find_home(self) -> Path:
        """`root` if the server's user can write there; otherwise a folder it can reach."""
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.root / "server"
        if link.is_symlink() and link.resolve().is_dir():
            return link.resolve()  # started before: the same data
        prefix = run_as_prefix(SYSTEM_USER)
        if not prefix:
            return self.root
        chown_tree(self.root, SYSTEM_USER)
        reachable = subprocess.run(
            [*prefix, "test", "-w", str(self.root)], capture_output=True, check=False, cwd="/"
        )
        if reachable.returncode == 0:
            return self.root
        # mkdtemp makes it 0700; it becomes the server user's own.
        home = Path(tempfile.mkdtemp(prefix="chorus-postgres-"))
        link.symlink_to(home)
        return home

    def cleanup(self) -> None:
        """Remove a home kept outside `root`, once stopped for good (its log is kept in root)."""
        if self._home is None or self._home == self.root:
            return
        if self._log.exists():
            shutil.copyfile(self._log, self.root / "postgres.log")
        shutil.rmtree(self._home, ignore_errors=True)
        (self.root / "server").unlink(missing_ok=True)
        self._home = None

    def _run(self, *argv: str) -> None:
        prefix = run_as_prefix(SYSTEM_USER)
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise ServerFailedToStart(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> LocalPostgres:
        bin_dir = _bin_dir()
        home = self.home
        fresh = not (self._data / "PG_VERSION").exists()
        pwfile = home / "pwfile"
        if fresh:
            pwfile.write_text(self.password + "\n")
        (home / "sock").mkdir(exist_ok=True)
        chown_tree(home, SYSTEM_USER)
        if fresh:
            self._run(
                str(bin_dir / "initdb"),
                "-D",
                str(self._data),
                "-U",
                self.user,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            )
            pwfile.unlink()
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={home / 'sock'}",
            f"-c max_connections={self.max_connections}",
            f"-c shared_buffers={self.shared_buffers}",
            *(f"-c {name}={value}" for name, value in self.settings.items()),
        ]
        if not self.durable:
            # Test and benchmark data is thrown away; fsync only costs time there.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self._data),
            "-l",
            str(self._log),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_until(lambda: port_open(self.port), timeout=30, what="PostgreSQL", log=self._log)
        if fresh:
            env = {**os.environ, "PGPASSWORD": self.password}
            subprocess.run(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                check=True,
                env=env,
                capture_output=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while running (pg_ctl detaches it from whoever started it)."""
        try:
            return int((self._data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, *, mode: str = "fast") -> None:
        """`mode="immediate"` is a crash: no checkpoint, clients cut off, recovery at the next
        start, as after a power loss."""
        if (self._data / "postmaster.pid").exists():
            self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self._data), "-m", mode, "-w", "stop")

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()
