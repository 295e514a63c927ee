"""One XRPC call against the local PDS, with httpx errors translated to ours.

Deliberately minimal: the local PDS is a test peer on loopback, so there are no
retries, no rate-limit budget and no response size cap (the real client in
``lairs_etl.atproto`` has those).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, TypeAlias

import httpx

from lairs_etl.errors import TransportError, XrpcError

__all__ = ["JsonObject", "call", "call_json"]

JsonObject: TypeAlias = dict[str, Any]
"""A decoded JSON object, as the PDS returns it."""


def call(
    client: httpx.Client,
    nsid: str,
    *,
    body: Mapping[str, object] | None = None,
    params: Mapping[str, str | int] | None = None,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    procedure: bool = False,
    raw: tuple[bytes, str] | None = None,
) -> httpx.Response:
    """POST ``body`` (a procedure) or GET ``params`` (a query) to ``/xrpc/<nsid>``.

    ``procedure=True`` without a body POSTs nothing: procedures without input refuse
    even ``{}``. ``raw`` POSTs bytes of a content type instead (``uploadBlob``).

    Raises:
        XrpcError: the PDS answered a non-2xx status (``error`` is its XRPC error name).
        TransportError: the request did not complete.
    """
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if basic is not None:
        headers["authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    url = f"/xrpc/{nsid}"
    try:
        if raw is not None:
            response = client.post(url, content=raw[0], headers={**headers, "content-type": raw[1]})
        elif body is not None:
            response = client.post(url, json=dict(body), headers=headers)
        elif procedure:
            response = client.post(url, headers=headers)
        else:
            response = client.get(url, params=dict(params or {}), headers=headers)
    except httpx.HTTPError as exc:
        raise TransportError(f"{nsid} failed: {exc}", url=str(client.base_url.join(url))) from exc
    if response.is_success:
        return response
    error, message = _error_body(response)
    raise XrpcError(
        f"{nsid} answered {response.status_code} {error or ''}: {message}".strip(),
        error=error,
        status=response.status_code,
        url=str(response.url),
    )


def call_json(
    client: httpx.Client,
    nsid: str,
    *,
    body: Mapping[str, object] | None = None,
    params: Mapping[str, str | int] | None = None,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    procedure: bool = False,
) -> JsonObject:
    """:func:`call`, decoding a JSON object answer (an empty body gives ``{}``).

    Raises:
        XrpcError: the PDS answered a non-2xx status.
        TransportError: the request did not complete.
    """
    response = call(client, nsid, body=body, params=params, token=token, basic=basic, procedure=procedure)
    if not response.content:
        return {}
    decoded = response.json()
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _error_body(response: httpx.Response) -> tuple[str | None, str]:
    try:
        decoded = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, response.text[:500]
    if not isinstance(decoded, dict):
        return None, response.text[:500]
    error = decoded.get("error")
    return (error if isinstance(error, str) else None), str(decoded.get("message", ""))[:500]
