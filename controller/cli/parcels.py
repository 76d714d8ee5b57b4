"""`dispatch parcels import FILE.csv`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from controller.cli.common import CLI_ACTOR, database, domain_errors_exit, settings_or_exit
from controller.db.engine import transaction
from controller.services import parcel_import


@click.group()
def parcels() -> None:
    """Parcels."""


@parcels.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_parcels(csv_file: Path, as_json: bool) -> None:
    """Bulk-load parcels; bad rows are rejected with a reason, good rows are kept.

    Exit status 0 when every row was imported, 1 when some rows were rejected.
    """
    settings = settings_or_exit()
    text = csv_file.read_text(encoding="utf-8-sig")
    rows = max(text.count("\n") - 1, 1)
    console = Console(stderr=True)
    with database(settings) as (_, factory), domain_errors_exit():
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=console,
                      disable=as_json) as progress, transaction(factory) as session:
            task = progress.add_task("rows", total=rows)
            report = parcel_import.import_csv(session, text=text, actor=CLI_ACTOR,
                                              progress=lambda n: progress.update(task, completed=n))
    if as_json:
        click.echo(json.dumps({"imported": report.imported,
                               "rejected": [r.__dict__ for r in report.rejected]}, ensure_ascii=False))
    else:
        console.print(f"imported {len(report.imported)} of {report.total} rows")
        if report.rejected:
            table = Table("row", "parcel", "error", title="rejected rows")
            for r in report.rejected:
                table.add_row(str(r.row), r.parcel_id, r.error)
            console.print(table)
    if report.rejected:
        raise SystemExit(1)
