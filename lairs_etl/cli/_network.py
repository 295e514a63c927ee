"""The network options every command that talks to the atproto network shares.

One definition, so ``fetch``, ``pull``, ``publish`` and ``resolve`` spell the flags,
environment variables and defaults the same way, and hand the command one
:class:`Network` instead of five loose arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lairs_etl.atproto.services import DEFAULT_PLC_URL

if TYPE_CHECKING:
    from lairs_etl.atproto.identity import IdentityResolver
    from lairs_etl.atproto.limits import FetchLimits
    from lairs_etl.atproto.xrpc import XrpcClient

__all__ = ["FETCH_MODES", "Network", "network_options"]

_F = TypeVar("_F", bound=Callable[..., object])

FETCH_MODES = ("auto", "car", "tree", "records")
"""The values of ``FetchMode``, spelled out to keep the commands' imports light (a test
checks them against the type)."""


@dataclass(frozen=True, slots=True)
class Network:
    """Where identities resolve, which hosts may be reached, and the budgets of every fetch."""

    plc_url: str
    handle_service: str | None
    allow_private_hosts: bool
    allow_metadata_hosts: bool
    limit_overrides: tuple[str, ...]

    def limits(self) -> FetchLimits:
        """The default limits with ``--limit`` applied.

        Raises:
            ConfigError: an unknown limit or a value that is not a positive number.
        """
        from lairs_etl.atproto.limits import FetchLimits, parse_limit_overrides

        overrides: dict[str, str] = {}
        for item in self.limit_overrides:
            overrides.update(parse_limit_overrides(item))
        return FetchLimits().with_overrides(overrides)

    def client(self) -> XrpcClient:
        """A new XRPC client with these switches and limits (close it when done)."""
        from lairs_etl.atproto.xrpc import XrpcClient

        return XrpcClient(
            allow_private_hosts=self.allow_private_hosts,
            allow_metadata_hosts=self.allow_metadata_hosts,
            limits=self.limits(),
        )

    def resolver(self, client: XrpcClient) -> IdentityResolver:
        """An identity resolver on ``client`` with the PLC directory and handle service."""
        from lairs_etl.atproto.identity import IdentityResolver

        return IdentityResolver(client, plc_url=self.plc_url, handle_service=self.handle_service)


def _limit_help() -> str:
    from lairs_etl.atproto.limits import LIMIT_HELP

    return "; ".join(f"{name}: {text}" for name, text in LIMIT_HELP.items())


def network_options(func: _F) -> _F:
    """Add the network options to a command, which receives them as ``network=Network(...)``."""

    @functools.wraps(func)
    def command(
        *args: Any,
        plc_url: str,
        handle_service: str | None,
        allow_private_hosts: bool,
        allow_metadata_hosts: bool,
        limit_overrides: tuple[str, ...],
        **kwargs: Any,
    ) -> object:
        network = Network(plc_url, handle_service, allow_private_hosts, allow_metadata_hosts, limit_overrides)
        return func(*args, network=network, **kwargs)

    wrapped: Callable[..., object] = command
    for option in reversed(
        (
            click.option(
                "--plc-url",
                envvar="LAIRS_PLC_URL",
                default=DEFAULT_PLC_URL,
                show_default=True,
                help="PLC directory for did:plc documents [env LAIRS_PLC_URL].",
            ),
            click.option(
                "--handle-service",
                envvar="LAIRS_HANDLE_SERVICE",
                default=None,
                help="Service answering com.atproto.identity.resolveHandle, tried after DNS and "
                "HTTPS (needed for .test handles of a local PDS) [env LAIRS_HANDLE_SERVICE].",
            ),
            click.option(
                "--allow-private-hosts",
                envvar="LAIRS_ALLOW_PRIVATE_HOSTS",
                is_flag=True,
                default=False,
                help="Allow loopback and private addresses, never link-local or cloud metadata ones "
                "(local development only) [env LAIRS_ALLOW_PRIVATE_HOSTS].",
            ),
            click.option(
                "--allow-metadata-hosts",
                envvar="LAIRS_ALLOW_METADATA_HOSTS",
                is_flag=True,
                default=False,
                help="Also allow link-local addresses and cloud metadata endpoints (169.254.169.254 …); "
                "almost never right [env LAIRS_ALLOW_METADATA_HOSTS].",
            ),
            click.option(
                "--limit",
                "limit_overrides",
                envvar="LAIRS_LIMITS",
                multiple=True,
                metavar="NAME=VALUE",
                help="Change a fetch budget (repeatable; sizes take KiB/MiB/GiB) [env LAIRS_LIMITS, "
                "space-separated]. " + _limit_help(),
            ),
        )
    ):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[return-value]  # same call signature, network options added
