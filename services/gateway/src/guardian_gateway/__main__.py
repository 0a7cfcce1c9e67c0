"""``python -m guardian_gateway`` serves the gateway; ``... bootstrap-key --name NAME`` makes the first admin key."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from guardian_common.auth import Role
from guardian_common.settings import ServiceSettings
from guardian_gateway.app import create_app
from guardian_gateway.keys.service import bootstrap_key
from guardian_gateway.settings import GatewaySettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardian_gateway", description="The Guardian gateway.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the gateway (the default)")
    bootstrap = commands.add_parser(
        "bootstrap-key", help="create an API key directly in the database (the first admin key) and print it once"
    )
    bootstrap.add_argument("--name", required=True, help="who or what the key is for")
    bootstrap.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    args = parser.parse_args(argv)

    if args.command == "bootstrap-key":
        # Only the database is needed here, so the gateway's other settings may be absent.
        base = ServiceSettings()
        created = asyncio.run(
            bootstrap_key(
                base.database_url, args.name, Role(args.role), create_database=base.environment != "production"
            )
        )
        sys.stdout.write(created.key + "\n")
        sys.stderr.write(f"key {created.id} ({created.role.value}) for {created.name}; it is not shown again\n")
        return 0

    settings = GatewaySettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
