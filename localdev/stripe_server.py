"""localstripe on one loopback address, from a blank store: `python -m localdev.stripe_server --port N`.

localstripe's own start() binds '::' (every interface) and reloads /tmp/localstripe.pickle; here its
aiohttp app is served on 127.0.0.1 only and its store never touches the shared pickle file, so two
stacks (or a stack and the tests) never see each other's customers.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from aiohttp import web

from localdev.net import LOOPBACK


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args(argv)

    from localstripe import resources, server  # noqa: PLC0415 - import after argument errors

    def keep_in_memory(self: Any) -> None:
        """Store.dump_to_disk replacement: this process's store stays private."""

    resources.Store.dump_to_disk = keep_in_memory
    resources.store.clear()
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(server.app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
