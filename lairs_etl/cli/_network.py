"""The network options every command that talks to the atproto network shares.

One definition, so ``fetch``, ``pull``, ``publish`` and ``resolve`` spell the flags,
environment variables and defaults the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from lairs_etl.atproto.services import DEFAULT_PLC_URL

__all__ = ["network_options"]

_F = TypeVar("_F", bound=Callable[..., object])


def network_options(func: _F) -> _F:
    """Add ``--plc-url``, ``--handle-service`` and ``--allow-private-hosts`` to a command."""
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
                help="Allow loopback/private addresses (local development only) "
                "[env LAIRS_ALLOW_PRIVATE_HOSTS].",
            ),
        )
    ):
        func = option(func)
    return func
