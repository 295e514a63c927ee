"""``python -m lairs_etl.localpds install|serve``: set-up step for CI, and a manual peer.

``install`` fetches Node's JS packages into the cache ahead of the tests (so the cold
install, 1.5-3 minutes, is not charged to the first test's timeout); ``serve`` runs a
PDS + PLC in the foreground until Ctrl-C, for poking at it with other tools.
"""

from __future__ import annotations

import argparse
import sys
import time

from lairs_etl.errors import LairsError
from lairs_etl.localpds.node import ensure_node_env
from lairs_etl.localpds.server import LocalPds


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m lairs_etl.localpds")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Node 22's PDS/PLC packages into the cache")
    serve = sub.add_parser("serve", help="run a local PDS + PLC until interrupted")
    serve.add_argument("--rate-limits", action="store_true", help="enable the PDS rate limits")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            started = time.monotonic()
            env = ensure_node_env(quiet=False)
            print(f"node packages ready in {env.prefix} ({time.monotonic() - started:.1f} s)")
            return 0
        with LocalPds(rate_limits=args.rate_limits) as pds:
            print(f"PDS {pds.pds_url}\nPLC {pds.plc_url}\nlog {pds.log_path}\nCtrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    except LairsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
