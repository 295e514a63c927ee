"""Sessions: password from the environment only, refresh on expiry, secrets never shown.

``httpx.MockTransport`` stands in for the PDS here because an expired access token
cannot be produced on demand by the real one (its tokens live two hours).
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, PublishError
from lairs_etl.publish import Session, password_from_env

PDS = "https://pds.example.com"
SECRET = "hunter2-app-password"
DID = "did:plc:abcdefghijklmnopqrstuvwx"


class FakePds:
    def __init__(self) -> None:
        self.tokens = 0
        self.expired: set[str] = set()
        self.calls: list[str] = []

    def _tokens(self) -> dict[str, str]:
        self.tokens += 1
        return {
            "did": DID,
            "handle": "a.test",
            "accessJwt": f"access-{self.tokens}",
            "refreshJwt": f"refresh-{self.tokens}",
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.removeprefix("/xrpc/")
        self.calls.append(nsid)
        auth = request.headers.get("authorization", "").removeprefix("Bearer ")
        if nsid == "com.atproto.server.createSession":
            body = json.loads(request.content)
            if body["password"] != SECRET:
                return httpx.Response(
                    401, json={"error": "AuthenticationRequired", "message": "Invalid password"}
                )
            return httpx.Response(200, json=self._tokens())
        if nsid == "com.atproto.server.refreshSession":
            if auth in self.expired:
                return httpx.Response(400, json={"error": "ExpiredToken", "message": "expired"})
            return httpx.Response(200, json=self._tokens())
        if auth in self.expired:
            return httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})
        return httpx.Response(200, json={"ok": auth})


@pytest.fixture
def pds() -> FakePds:
    return FakePds()


@pytest.fixture
def client(pds: FakePds) -> XrpcClient:
    return XrpcClient(transport=httpx.MockTransport(pds), sleep=lambda _: None)


def test_an_expired_access_token_is_refreshed_and_the_call_repeated(pds: FakePds, client: XrpcClient) -> None:
    session = Session(client, PDS, DID, lambda: SECRET)
    pds.expired.add("access-1")
    assert session.procedure("com.example.write", {}) == {"ok": "access-2"}
    assert pds.calls == [
        "com.atproto.server.createSession",
        "com.example.write",
        "com.atproto.server.refreshSession",
        "com.example.write",
    ]


def test_an_expired_refresh_token_logs_in_again_from_the_environment(
    pds: FakePds, client: XrpcClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_APP_PW", SECRET)
    session = Session(client, PDS, DID, password_from_env("MY_APP_PW"))
    pds.expired.update({"access-1", "refresh-1"})
    assert session.procedure("com.example.write", {}) == {"ok": "access-2"}
    assert pds.calls.count("com.atproto.server.createSession") == 2


def test_the_password_appears_nowhere(
    pds: FakePds, client: XrpcClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = Session(client, PDS, DID, lambda: SECRET)
    pds.expired.add("access-1")
    session.procedure("com.example.write", {})
    with pytest.raises(PublishError) as failed:
        Session(client, PDS, DID, lambda: "wrong")
    shown = (
        caplog.text + repr(session) + str(vars(session)) + str(failed.value) + repr(failed.value.__cause__)
    )
    assert SECRET not in shown
    assert "access-" not in caplog.text  # tokens are redacted from the client's logs


def test_a_missing_password_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_PW"):
        password_from_env("NO_SUCH_PW")()
