"""`python -m chorus.devstack run`: the whole stack for a developer (what `make run` does)."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from chorus.devstack.processes import port_open
from chorus.devstack.stack import ALL_NETWORKS, Stack

ROOT = Path(__file__).resolve().parents[5]


def _port(preferred: int) -> int | None:
    return None if port_open(preferred) else preferred


def run(args: argparse.Namespace) -> int:
    root = ROOT / ".run"
    # The simulator forgets its accounts when it stops, so every run starts from scratch.
    shutil.rmtree(root, ignore_errors=True)
    stack = Stack(
        root=root,
        durable=True,
        pg_port=_port(55432),
        mq_port=_port(55672),
        gateway_port=_port(args.port) or None,
        sim_port=_port(8090),
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        print("starting PostgreSQL and RabbitMQ ...", flush=True)
        stack.start_servers()
        stack.migrate()
        stack.start_simulator()
        print("starting the Bluesky network (the first run installs it: a few minutes) ...")
        stack.start_bluesky()
        for name in ("gateway", "scheduler", "metrics"):
            print(f"starting {name} ...", flush=True)
            stack.start_service(name)
        for network in ALL_NETWORKS:
            print(f"starting the {network} publisher ...", flush=True)
            stack.start_service("publisher", instance=network, NETWORK=network)
        key = stack.create_organisation("Demo organisation")
        print("connecting the demo colleagues' accounts ...", flush=True)
        stack.seed_ambassadors(
            api_key=key, count=args.ambassadors, followers=250, networks=ALL_NETWORKS
        )
        _banner(stack, key, args.ambassadors)
        while not stopping.wait(1.0):
            dead = [s.name for s in stack.services.values() if not s.alive()]
            if dead:
                print(f"stopped unexpectedly: {', '.join(dead)} (logs in {root}/logs)")
                return 1
        return 0
    finally:
        print("\nstopping everything ...", flush=True)
        stack.stop()


def create_campaign_curl(
    *, gateway_url: str, api_key: str, networks: tuple[str, ...] = ALL_NETWORKS
) -> str:
    """The command `make run` prints; the end-to-end tests run it as printed."""
    listed = ", ".join(f'"{n}"' for n in networks)
    return (
        f"  curl -s -X POST {gateway_url}/v1/campaigns \\\n"
        f"    -H 'Authorization: Bearer {api_key}' -H 'Content-Type: application/json' \\\n"
        '    -d \'{"title": "Launch", "url": "https://example.com/launch",\n'
        f'         "message": "We shipped!", "networks": [{listed}]}}\''
    )


def _banner(stack: Stack, key: str, ambassadors: int) -> None:
    gw = stack.gateway_url
    print(
        f"""
Chorus is running.
  API           {gw}   (docs: {gw}/docs)
  simulator     {stack.sim_url}/_sim/stats
  PostgreSQL    {stack.database_url}
  RabbitMQ      {stack.amqp_url}
  logs          {stack.root}/logs/
  Bluesky       {stack.bluesky_url}   (a real network, run locally)
  {ambassadors} demo ambassadors, each with an account on Mastodon, X, LinkedIn and a
  Facebook Page at the simulator (X, LinkedIn and Facebook connected through their consent
  pages, as a colleague would) and on the local Bluesky (connected with an app password).

API key: {key}

Create a campaign:
{create_campaign_curl(gateway_url=gw, api_key=key)}

Then follow it (use the "id" it returned):
  curl -s {gw}/v1/campaigns/<id> -H 'Authorization: Bearer {key}'

Ctrl-C stops everything.""",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chorus.devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run the whole stack locally")
    run_cmd.add_argument("--port", type=int, default=8000, help="gateway port")
    run_cmd.add_argument("--ambassadors", type=int, default=5)
    args = parser.parse_args()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
