"""`dispatch locker provision LOCKER_ID`: credentials for the locker agent on a bus."""

from __future__ import annotations

import json
import shlex

import click

from controller.cli.common import CLI_ACTOR, database, fail, settings_or_exit
from controller.db.engine import transaction
from controller.db.models import Locker
from controller.services import auth, lockers
from controller.services.auth import Role


@click.group("locker")
def locker() -> None:
    """Smart lockers."""


@locker.command("provision")
@click.argument("locker_id")
@click.option("--controller-url", default=None, help="URL the agent reaches the controller at (for the example).")
@click.option("--port", "serial_port", default="/dev/ttyUSB0", show_default=True, help="Lock-board serial port.")
def provision(locker_id: str, controller_url: str | None, serial_port: str) -> None:
    """Issue (or re-issue) the agent's kiosk token and print it with the locker's code key, once.

    Re-issuing revokes the previous token. Prints JSON with ``token``, ``code_key`` and the
    ``locker-agent run`` command line.
    """
    settings = settings_or_exit()
    with database(settings) as (_, factory), transaction(factory) as session:
        if session.get(Locker, locker_id) is None:
            fail(f"unknown locker {locker_id!r}", 2)
        token = auth.rotate_token(session, name=lockers.agent_user_name(locker_id), role=Role.KIOSK,
                                  secret_key=settings.secret_key, actor=CLI_ACTOR)
    code_key = lockers.locker_code_key(settings.secret_key, locker_id)
    url = controller_url or f"http://{settings.host}:{settings.port}"
    command = ["locker-agent", "run", "--port", serial_port, "--controller", url, "--token", token,
               "--locker", locker_id, "--code-key", code_key]
    click.echo(json.dumps({"locker": locker_id, "user": lockers.agent_user_name(locker_id), "token": token,
                           "code_key": code_key, "command": shlex.join(command)}, ensure_ascii=False))
