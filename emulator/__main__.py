"""Run the LINE emulator alone: ``python -m emulator --port 8081``.

Several processes can share one database, e.g. ``gunicorn -w 4 "emulator:create_emulator_app()"``
with the settings in EMULATOR_DATABASE_URL, LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN and
EMULATOR_WEBHOOK_URL.
"""

from __future__ import annotations

import argparse
import dataclasses

from werkzeug.serving import run_simple

from emulator.app import create_emulator_app
from emulator.config import ENV_VARS, EmulatorConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; options left out fall back to the environment variables."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--database-url", help=f"default: ${ENV_VARS['database_url']} or sqlite")
    parser.add_argument("--channel-secret", help="default: a development secret, printed")
    parser.add_argument("--channel-access-token", help="default: any Bearer token is accepted")
    parser.add_argument("--webhook-url", help="default: http://<host of the caller>/callback")
    parser.add_argument("--webhook-timeout", type=float)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Create the emulator from the command line and serve it with werkzeug, threaded."""
    args = parse_args(argv)
    config = dataclasses.asdict(EmulatorConfig.from_mapping(None))
    for key in config:
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    app = create_emulator_app(config)
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
