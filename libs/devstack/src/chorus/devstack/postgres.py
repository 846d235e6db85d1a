"""A throwaway PostgreSQL server from the Debian package, on a loopback port, in a folder we own."""

from __future__ import annotations

import glob
import os
import subprocess
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

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def _data(self) -> Path:
        return self.root / "data"

    @property
    def _log(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *argv: str) -> None:
        prefix = run_as_prefix(SYSTEM_USER)
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise ServerFailedToStart(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> LocalPostgres:
        bin_dir = _bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = not (self._data / "PG_VERSION").exists()
        pwfile = self.root / "pwfile"
        if fresh:
            pwfile.write_text(self.password + "\n")
        (self.root / "sock").mkdir(exist_ok=True)
        chown_tree(self.root, SYSTEM_USER)
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
            f"-c unix_socket_directories={self.root / 'sock'}",
            "-c max_connections=300",
            "-c shared_buffers=128MB",
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

    def stop(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self._run(str(_bin_dir() / "pg_ctl"), "-D", str(self._data), "-m", "fast", "-w", "stop")

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
