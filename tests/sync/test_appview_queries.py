"""The appview queries the closure asks exist upstream, with the parameter it sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lairs_etl.sync.appview import BY_CORPUS, BY_EXPRESSION


@pytest.mark.parametrize(("nsid", "param"), [*BY_CORPUS, *BY_EXPRESSION])
def test_each_query_is_an_upstream_list_query_by_at_uri(
    lexicon_docs: Mapping[str, Mapping[str, Any]], nsid: str, param: str
) -> None:
    main = lexicon_docs[nsid]["defs"]["main"]
    assert main["type"] == "query"
    assert main["parameters"]["properties"][param]["format"] == "at-uri"
    output = main["output"]["schema"]["properties"]
    assert output["records"]["type"] == "array"
    assert output["cursor"]["type"] == "string"
