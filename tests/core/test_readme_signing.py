"""The README's dozen lines that sign a URL agree with the function's own check."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from lambda_handler.web import signing

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_signer() -> Any:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(# sign_url\.py.*?)```", text, re.DOTALL)
    assert block, "the README's sign_url.py block is gone"
    assert len(block.group(1).strip().splitlines()) <= 14
    scope: dict[str, Any] = {}
    exec(compile(block.group(1), "README sign_url.py", "exec"), scope)
    return scope["sign_url"]


@pytest.mark.parametrize("expires_in", [None, 3600])
@pytest.mark.parametrize("key", ["holiday/beach.jpg", "été/a b+c (1).JPEG"])
def test_the_readme_signer_makes_urls_the_function_accepts(
    key: str, expires_in: int | None
) -> None:
    url = _readme_signer()("https://x.execute-api.us-east-1.amazonaws.com", "s3cr3t", key,
                           512, 512, expires_in)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    path = unquote(parts.path)
    assert path == f"/512x512/{key}"
    assert signing.problem("s3cr3t", path, query["sig"], query.get("expires"),
                           time.time()) is None
    assert signing.problem("other", path, query["sig"], query.get("expires"),
                           time.time()) == "the signature does not match"
