"""A real controller over HTTP (uvicorn in a thread on a free loopback port) that tests can stop and
start again on the same port, to play a lost mobile link."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from controller.api.app import create_app
from controller.db.engine import make_session_factory, transaction
from controller.services import auth, lockers
from controller.services.auth import Role
from tests.conftest import TEST_SECRET, install_shengsi, make_settings, migrated_engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveController:
    """The controller app on ``url`` with a migrated SQLite database holding the Shengsi scenario."""

    def __init__(self, tmp: Path, locker_id: str) -> None:
        self.db_url = f"sqlite:///{tmp / 'dispatch.sqlite'}"
        self.engine = migrated_engine(self.db_url)
        self.factory = make_session_factory(self.engine)
        install_shengsi(self.factory)
        self.tokens: dict[Role, str] = {}
        with transaction(self.factory) as session:
            for role in Role:
                self.tokens[role] = auth.create_user(session, name=f"{role.value}-1", role=role,
                                                     secret_key=TEST_SECRET, actor="test")[1]
            self.agent_token = auth.create_user(session, name=lockers.agent_user_name(locker_id), role=Role.KIOSK,
                                                secret_key=TEST_SECRET, actor="test")[1]
        self.settings = make_settings(self.db_url, tmp)
        self.code_key = lockers.locker_code_key(TEST_SECRET, locker_id)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server = uvicorn.Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                               log_level="warning", timeout_graceful_shutdown=1))
        self._server, self._thread = server, threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError("controller did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def api(self, role: Role) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", headers={"Authorization": f"Bearer {self.tokens[role]}"},
                            timeout=30)

    def close(self) -> None:
        self.stop()
        self.engine.dispose()
