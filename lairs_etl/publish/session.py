"""An authenticated session on the actor's own PDS, from an app password in the environment.

The password is read from the environment when a session is created (and again only
if the refresh token has also expired), passed to ``createSession`` and dropped: it is
never stored on the object, logged, or written anywhere. Tokens stay in memory only.
Every write names :attr:`Session.did` as its repository, the DID the PDS authenticated,
so a session can never write into someone else's repository.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

from pydantic import JsonValue

from lairs_etl.atproto.syntax import Did
from lairs_etl.atproto.xrpc import XrpcClient
from lairs_etl.errors import ConfigError, PublishError, RateLimitedError, XrpcError

__all__ = ["DEFAULT_PASSWORD_ENV", "Session", "password_from_env"]

DEFAULT_PASSWORD_ENV = "LAIRS_APP_PASSWORD"  # noqa: S105  # the variable's name, not a password
_EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})


def password_from_env(name: str = DEFAULT_PASSWORD_ENV) -> Callable[[], str]:
    """A source reading the app password from environment variable ``name`` when asked.

    Raises (when called):
        ConfigError: the variable is unset or empty.
    """

    def read() -> str:
        value = os.environ.get(name, "")
        if not value:
            raise ConfigError(f"set the app password in the environment variable {name}")
        return value

    return read


class Session:
    """Access and refresh tokens for one account on one PDS.

    Contract: :meth:`procedure` adds the bearer token; an ``ExpiredToken`` answer
    refreshes the session once (``refreshSession``, else a new ``createSession``) and
    repeats the call. Tokens are excluded from ``repr`` and the XRPC client's logs.
    """

    def __init__(
        self, client: XrpcClient, pds_url: str, identifier: str, password: Callable[[], str]
    ) -> None:
        self.client = client
        self.pds_url = pds_url
        self._identifier = identifier
        self._password = password
        self._lock = threading.Lock()
        self._access = ""
        self._refresh = ""
        self.did = Did(self._login())

    def __repr__(self) -> str:
        return f"Session(did={self.did!r}, pds_url={self.pds_url!r})"

    def procedure(self, nsid: str, body: JsonValue, *, idempotent: bool = False) -> JsonValue:
        """POST ``body`` to ``nsid`` with the access token, refreshing it once if expired.

        Raises:
            XrpcError: the PDS refused the call (after a refresh if the token expired).
            TransportError: the call could not be made.
        """
        token = self._access
        try:
            return self.client.procedure(self.pds_url, nsid, body, self._auth(token), idempotent=idempotent)
        except XrpcError as exc:
            if exc.error not in _EXPIRED:
                raise
        self._renew(token)
        return self.client.procedure(
            self.pds_url, nsid, body, self._auth(self._access), idempotent=idempotent
        )

    def auth_headers(self) -> Mapping[str, str]:
        """The current ``authorization`` header, for calls the client makes otherwise."""
        return self._auth(self._access)

    def renew(self) -> None:
        """Refresh the tokens now (after an ``ExpiredToken`` seen elsewhere)."""
        self._renew(self._access)

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    def _login(self) -> str:
        try:
            answer = self.client.procedure(
                self.pds_url,
                "com.atproto.server.createSession",
                {"identifier": self._identifier, "password": self._password()},
            )
        except RateLimitedError:
            raise  # the publish waits for the reset and tries again
        except XrpcError as exc:
            raise PublishError(
                f"could not log in as {self._identifier}: {exc.error or exc.status}", actor=self._identifier
            ) from None  # the request body held the password: keep it out of the chain
        return self._take(answer)

    def _renew(self, seen: str) -> None:
        with self._lock:
            if self._access != seen:
                return  # another thread refreshed already
            try:
                answer = self.client.procedure(
                    self.pds_url, "com.atproto.server.refreshSession", None, self._auth(self._refresh)
                )
            except XrpcError as exc:
                if exc.error not in _EXPIRED:
                    raise
                self._login()
                return
            self._take(answer)

    def _take(self, answer: JsonValue) -> str:
        if not isinstance(answer, dict):
            raise PublishError("createSession answered something that is not an object")
        did, access, refresh = answer.get("did"), answer.get("accessJwt"), answer.get("refreshJwt")
        if not (isinstance(did, str) and isinstance(access, str) and isinstance(refresh, str)):
            raise PublishError("the session answer lacks did, accessJwt or refreshJwt")
        if self._access and did != getattr(self, "did", did):
            raise PublishError(f"the session changed account to {did}", actor=did)
        self._access, self._refresh = access, refresh
        return did
