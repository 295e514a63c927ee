"""XRPC over httpx: timeouts, per-host concurrency, retries, rate limits, size caps.

One :class:`XrpcClient` serves every remote call (queries, binary downloads such as
CARs, procedures, and plain fetches of DID documents). Errors are the typed ones of
:mod:`lairs_etl.errors`; httpx exceptions never escape.
"""

from __future__ import annotations

from lairs_etl.atproto.xrpc._body import JsonValue, redact_headers
from lairs_etl.atproto.xrpc._client import DEFAULT_TIMEOUT, Params, ParamValue, XrpcClient

__all__ = ["DEFAULT_TIMEOUT", "JsonValue", "ParamValue", "Params", "XrpcClient", "redact_headers"]
