"""DAG-CBOR, strict and canonical, in the two shapes atproto code needs.

* IPLD form: links are :class:`~lairs_etl.atproto.cid.Cid`, bytes are ``bytes``.
* atproto JSON form (what ``listRecords`` shows): ``{"$link": ...}``, ``{"$bytes": ...}``.

Decoding refuses non-canonical encodings (map key order, float forms, indefinite
lengths), so re-encoding a decoded block gives back the same bytes and the same CID.
All decoder errors are translated to :class:`~lairs_etl.errors.CodecError`.
"""

from __future__ import annotations

from typing import Any

import cbrrr

from lairs_etl.errors import CodecError

__all__ = ["decode", "decode_json_form", "encode", "encode_json_form"]


def encode(value: Any) -> bytes:
    """Encode an IPLD-form value to canonical DAG-CBOR."""
    try:
        return cbrrr.encode_dag_cbor(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc


def decode(data: bytes) -> Any:
    """Decode canonical DAG-CBOR to the IPLD form."""
    try:
        return cbrrr.decode_dag_cbor(data)
    except (cbrrr.CbrrrDecodeError, ValueError, TypeError, RecursionError, EOFError) as exc:
        raise CodecError(f"invalid DAG-CBOR: {exc}") from exc


def encode_json_form(value: Any) -> bytes:
    """Encode an atproto-JSON-form value (``$link``/``$bytes``) to DAG-CBOR."""
    try:
        return cbrrr.encode_dag_cbor(value, atjson_mode=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode as DAG-CBOR: {exc}") from exc


def decode_json_form(data: bytes) -> Any:
    """Decode canonical DAG-CBOR straight to the atproto JSON form."""
    try:
        return cbrrr.decode_dag_cbor(data, atjson_mode=True)
    except (cbrrr.CbrrrDecodeError, ValueError, TypeError, RecursionError, EOFError) as exc:
        raise CodecError(f"invalid DAG-CBOR: {exc}") from exc
