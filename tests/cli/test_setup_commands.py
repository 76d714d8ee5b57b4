"""`dispatch db upgrade`, `init`, `user add` and `parcels import` as a newcomer runs them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from controller.cli import main
from controller.db.engine import make_engine, make_session_factory
from controller.db.models import Parcel, ServicePoint, User


@pytest.fixture
def env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("DISPATCH_DATABASE_URL", url)
    monkeypatch.setenv("DISPATCH_SECRET_KEY", "cli-test-secret-key-long-enough-0123456789")
    return url


def _rows(url: str, model):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = list(session.scalars(select(model)))
    engine.dispose()
    return rows


def test_upgrade_init_user_and_import(env: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    from alembic.script import ScriptDirectory

    from controller.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(env)).get_current_head()
    assert upgraded.exit_code == 0 and upgraded.output.strip() == f"database at revision {head}"
    first = runner.invoke(main, ["init", "--scenario", "shengsi"])
    again = runner.invoke(main, ["init", "--scenario", "shengsi"])
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert "installed" in first.output and "already installed" in again.output
    assert {"caiyuan-dc", "dengta-village"} <= {p.id for p in _rows(env, ServicePoint)}
    unknown = runner.invoke(main, ["init", "--scenario", "atlantis"])
    assert unknown.exit_code == 2 and "shengsi" in unknown.output

    added = runner.invoke(main, ["user", "add", "dispatcher-zhou", "--role", "dispatcher"])
    token = added.output.strip()
    assert added.exit_code == 0 and token.startswith("dsp_")
    assert [u.name for u in _rows(env, User)] == ["dispatcher-zhou"]
    assert all(token not in u.token_hash for u in _rows(env, User))
    duplicate = runner.invoke(main, ["user", "add", "dispatcher-zhou", "--role", "admin"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output

    csv_path = tmp_path / "parcels.csv"
    csv_path.write_text(
        "id,origin,destination,weight_kg,length_cm,width_cm,height_cm,priority,ready_at,due_at\n"
        "A1,caiyuan-dc,huaniao-station,1.5,30,20,10,1,2026-12-01T08:00:00+08:00,\n"
        "A2,caiyuan-dc,moon-base,1.5,30,20,10,1,,\n"
        "A3,huaniao-station,caiyuan-dc,2.5,40,30,20,1,2026-12-01T09:00:00+08:00,2026-12-01T12:00:00+08:00\n",
        encoding="utf-8")
    imported = runner.invoke(main, ["parcels", "import", str(csv_path), "--json"])
    assert imported.exit_code == 1, imported.output  # some rows were rejected
    report = json.loads(imported.output.strip().splitlines()[-1])
    assert report["imported"] == ["A1", "A3"]
    assert [(r["row"], r["parcel_id"]) for r in report["rejected"]] == [(2, "A2")]
    assert "moon-base" in report["rejected"][0]["error"]
    assert sorted(p.id for p in _rows(env, Parcel)) == ["A1", "A3"]
    missing = runner.invoke(main, ["parcels", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2


def test_locker_provision_issues_a_working_kiosk_token_and_the_code_key(env: str) -> None:
    from controller.services import auth, lockers

    runner = CliRunner()
    assert runner.invoke(main, ["init", "--scenario", "shengsi"]).exit_code == 0
    first = runner.invoke(main, ["locker", "provision", "locker-bus-huaniao-1", "--controller-url",
                                 "http://10.0.0.5:8000"])
    assert first.exit_code == 0, first.output
    issued = json.loads(first.output)
    assert issued["user"] == "locker:locker-bus-huaniao-1" and issued["token"].startswith("dsp_")
    assert issued["code_key"] == lockers.locker_code_key("cli-test-secret-key-long-enough-0123456789",
                                                         "locker-bus-huaniao-1")
    assert "--code-key" in issued["command"] and "http://10.0.0.5:8000" in issued["command"]
    second = json.loads(runner.invoke(main, ["locker", "provision", "locker-bus-huaniao-1"]).output)
    engine = make_engine(env)
    with make_session_factory(engine)() as session:
        secret = "cli-test-secret-key-long-enough-0123456789"
        assert auth.authenticate(session, token=second["token"], secret_key=secret).role == "kiosk"
        with pytest.raises(Exception, match="invalid"):
            auth.authenticate(session, token=issued["token"], secret_key=secret)  # re-issuing revokes
    engine.dispose()
    unknown = runner.invoke(main, ["locker", "provision", "locker-atlantis"])
    assert unknown.exit_code == 2 and "locker-atlantis" in unknown.output
