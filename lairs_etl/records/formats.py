r"""Lexicon string formats, checked exactly as the reference ``@atproto/lexicon`` does.

Each predicate mirrors the ``@atproto/syntax`` function the reference validator calls
(``isAtUriString``, ``isDatetimeStringLenient``, ``isValidUri``, ``isValidLanguage``,
…), including its quirks, so that a record's verdict here agrees with the reference.
JavaScript regex semantics are kept: ``$`` is end of input (``fullmatch`` here) and
``\s``/``\w`` use JavaScript's character sets, not Python's Unicode ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lairs_etl.atproto.syntax import is_did, is_handle, is_nsid, is_record_key, is_tid
from lairs_etl.records._datetime import is_lenient_datetime
from lairs_etl.records._multibase import is_cid_string

__all__ = [
    "FORMAT_CHECKS",
    "is_at_identifier",
    "is_at_uri",
    "is_language",
    "is_uri",
]

# JavaScript's \s (ECMAScript WhiteSpace + LineTerminator), which differs from Python's.
_JS_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_AT_URI_BAD_CHAR = re.compile(r"[^a-zA-Z0-9._~:@!$&'()*+,;=%/\\\[\]#?-]")
_AT_URI = re.compile(
    rf"at://(?P<authority>[^/?#{_JS_SPACE}]+)"
    rf"(?:/(?P<collection>[^/?#{_JS_SPACE}]+)(?:/(?P<rkey>[^/?#{_JS_SPACE}]+))?)?"
    rf"(?P<slash>/)?(?:\?(?P<query>[^#{_JS_SPACE}]*))?(?:#(?P<hash>[^{_JS_SPACE}]*))?"
)
_JSON_POINTER = re.compile(r"/[a-zA-Z0-9._~:@!$&')(*+,;=%\[\]/-]*")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_URI = re.compile(rf"[A-Za-z0-9_]+:(?://)?[^{_JS_SPACE}/][^{_JS_SPACE}]*")
_LANGUAGE = re.compile(
    r"((?P<grandfathered>(en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo"
    r"|i-navajo|i-pwn|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE)|(art-lojban|cel-gaulish|no-bok"
    r"|no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang))|((?P<language>([A-Za-z]{2,3}(-(?P<extlang>"
    r"[A-Za-z]{3}(-[A-Za-z]{3}){0,2}))?)|[A-Za-z]{4}|[A-Za-z]{5,8})(-(?P<script>[A-Za-z]{4}))?"
    r"(-(?P<region>[A-Za-z]{2}|[0-9]{3}))?(-(?P<variant>[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(-(?P<extension>[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+))*(-(?P<privateUseA>[xX](-[A-Za-z0-9]{1,8})+))?)"
    r"|(?P<privateUseB>[xX](-[A-Za-z0-9]{1,8})+))"
)


def is_at_identifier(value: str) -> bool:
    """A DID or a handle (``isAtIdentifierString``)."""
    if not value:
        return False
    return is_did(value) if value.startswith("did:") else is_handle(value)


def is_at_uri(value: str) -> bool:
    """``isAtUriString`` in strict mode: no query, no trailing slash, a valid record key."""
    if len(value) > 8192 or _AT_URI_BAD_CHAR.search(value):
        return False
    match = _AT_URI.fullmatch(value)
    if match is None or not is_at_identifier(match["authority"]):
        return False
    if match["collection"] is not None and not is_nsid(match["collection"]):
        return False
    fragment = match["hash"]
    if fragment is not None and not (_JSON_POINTER.fullmatch(fragment) and _percent_decodes(fragment)):
        return False
    if match["slash"] is not None or match["query"] is not None:
        return False
    return match["rkey"] is None or is_record_key(match["rkey"])


def is_uri(value: str) -> bool:
    """``isValidUri``: a scheme, a colon and a non-blank rest (deliberately loose)."""
    return _URI.fullmatch(value) is not None


def is_language(value: str) -> bool:
    """``isValidLanguage``: the BCP 47 tag grammar (syntax only, no registry lookup)."""
    return _LANGUAGE.fullmatch(value) is not None


def _percent_decodes(text: str) -> bool:
    """Whether ``decodeURIComponent`` accepts ``text``: well-formed escapes of UTF-8."""
    if text.count("%") != sum(len(run) for run in _PERCENT_RUN.findall(text)) // 3:
        return False
    for run in _PERCENT_RUN.findall(text):
        try:
            bytes.fromhex(run.replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


#: Format name → predicate, for every string format of the Lexicon spec.
FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "at-identifier": is_at_identifier,
    "at-uri": is_at_uri,
    "cid": is_cid_string,
    "datetime": is_lenient_datetime,
    "did": is_did,
    "handle": is_handle,
    "language": is_language,
    "nsid": is_nsid,
    "record-key": is_record_key,
    "tid": is_tid,
    "uri": is_uri,
}
