"""`python -m chorus.netsim --port 8090`: the network simulator on its own."""

from __future__ import annotations

import argparse

import uvicorn

from chorus.netsim.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Chorus network simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
