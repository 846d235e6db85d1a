"""A throwaway RabbitMQ node from the Debian package, on loopback ports, in a folder we own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from chorus.devstack.processes import (
    ServerFailedToStart,
    free_port,
    port_open,
    spawn,
    stop_process,
    wait_until,
)

__all__ = ["LocalRabbitMQ"]

# The script under /usr/lib runs the node as the calling user; /usr/sbin's wrapper would switch
# to the `rabbitmq` account, which cannot write to our folder.
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


@dataclass
class LocalRabbitMQ:
    """`with LocalRabbitMQ(root=...) as mq: mq.url` gives a running node and stops it after."""

    root: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def nodename(self) -> str:
        return f"chorus{self.port}@localhost"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_USE_LONGNAME": "false",
        }

    def start(self) -> LocalRabbitMQ:
        if not SERVER.exists():
            raise ServerFailedToStart("RabbitMQ is not installed (apt package `rabbitmq-server`)")
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.port}",
                    "log.console = true",
                    "log.console.level = warning",
                    "log.file = false",
                    # Disk alarms on a shared build machine would block publishers mid-test.
                    "disk_free_limit.absolute = 50MB",
                    "vm_memory_high_watermark.relative = 0.6",
                ]
            )
            + "\n"
        )
        log = self.root / "rabbitmq.out"
        self._proc = spawn([str(SERVER)], log=log, env=self._env(), cwd=self.root)
        proc = self._proc
        wait_until(
            lambda: port_open(self.port),
            timeout=90,
            what="RabbitMQ",
            alive=lambda: proc.poll() is None,
            log=log,
        )
        return self

    def kill(self) -> None:
        """Crash the node (SIGKILL, no goodbye to anyone); `start` brings it back on the same
        ports and data, as a restarted pod would."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=30)
            self._proc = None
        self._kill_epmd()

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=30)
            self._proc = None
        self._kill_epmd()

    def _kill_epmd(self) -> None:
        # epmd outlives the node; it runs on our private port, so only ours is stopped.
        subprocess.run(
            ["epmd", "-kill"],
            env={**os.environ, "ERL_EPMD_PORT": str(self.epmd_port)},
            capture_output=True,
            check=False,
        )

    def __enter__(self) -> LocalRabbitMQ:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
