"""The `dispatch` command line: one click group, one module per sub-command family."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Island drone and smart-locker dispatch controller."""


def _register_commands() -> None:
    # Imported here so that `dispatch --help` stays fast and each module owns its own command.
    from controller.cli import db, demo, fly, lockers, parcels, plan, schedule, serve, setup, sitl

    for command in (db.db, setup.init, setup.user, parcels.parcels, serve.serve, serve.up, plan.plan,
                    schedule.schedule, sitl.sitl, fly.fly, lockers.locker, demo.demo):
        main.add_command(command)


_register_commands()
