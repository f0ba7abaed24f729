"""`resizer url`: a working URL for a rendition on the fly, signed as the function checks it.

Everything comes from the deployed stack, not from local settings: the sizes the function
serves (SIZES and API_SIZES), its source prefix, its URL secret (read from the function's
configuration, so only someone who may read that can sign) and the API's endpoint (the
emulator's data plane for the local target). The signature is `lambda_handler.web.signing`,
the function's own code.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from lambda_handler.config import Config, ConfigError, format_sizes, parse_sizes
from lambda_handler.web import negotiate, signing
from lambda_handler.web.config import WebConfig
from resizer_cli.aws import Target
from resizer_cli.deploy.apply import translate
from resizer_cli.deploy.inventory_api import invoke_url, read_apis
from resizer_cli.errors import USAGE, ResizerError, error_code

_DURATION = re.compile(r"^(?:(\d{1,9})([smhd]))+$")
_PART = re.compile(r"(\d{1,9})([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RenditionUrl:
    url: str
    endpoint: str
    path: str
    expires: int | None
    signed: bool

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "endpoint": self.endpoint, "path": self.path,
                "expires": self.expires, "signed": self.signed}


def parse_duration(text: str) -> int:
    """`90s`, `30m`, `1h`, `7d`, `1h30m`, or plain seconds -> seconds."""
    value = text.strip().lower()
    if value.isdigit() and len(value) <= 9:
        seconds = int(value)
    elif _DURATION.match(value):
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    else:
        raise ResizerError(f"cannot read --expires {text!r}", "use e.g. 30m, 1h or 7d",
                           exit_code=USAGE)
    if seconds <= 0:
        raise ResizerError(f"--expires {text!r} is not in the future", "use e.g. 30m, 1h or 7d",
                           exit_code=USAGE)
    return seconds


def _function_env(target: Target) -> dict[str, str]:
    lam = target.client("lambda")
    try:
        conf = lam.get_function_configuration(FunctionName=target.names.function)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise target.stack_not_found() from None
        raise translate(exc, "reading the function's configuration") from None
    except BotoCoreError as exc:
        raise translate(exc, "reading the function's configuration") from None
    return dict((conf.get("Environment") or {}).get("Variables") or {})


def _box(size: str, allowed: tuple[tuple[int, int], ...], stack: str) -> tuple[int, int]:
    try:
        boxes = parse_sizes(size)
    except ConfigError as exc:
        raise ResizerError(f"--size {size!r}: {exc.problem}", exc.remedy or None,
                           exit_code=USAGE) from None
    if len(boxes) != 1:
        raise ResizerError(f"--size {size!r}: give one size", "e.g. --size 512x512",
                           exit_code=USAGE)
    if boxes[0] not in allowed:
        raise ResizerError(
            f"--size {size}: stack {stack} does not serve it (sizes: {format_sizes(allowed)})",
            "use one of those, or add it with `resizer setup --api-sizes WxH`", exit_code=USAGE)
    return boxes[0]


def _format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    name = fmt.strip().lower()
    name = {"jpg": "jpeg"}.get(name, name)
    if name not in negotiate.FORCEABLE:
        raise ResizerError(f"unknown --format {fmt!r}",
                           f"use one of {', '.join(negotiate.FORCEABLE)}", exit_code=USAGE)
    return name


def rendition_url(
    target: Target, key: str, size: str, *, expires: str | None = None,
    fmt: str | None = None, now: float | None = None,
) -> RenditionUrl:
    stack = target.settings.stack
    chosen = _format(fmt)  # usage mistakes first, before any call
    valid_for = parse_duration(expires) if expires is not None else None
    env = _function_env(target)
    try:
        config, web = Config.from_env(env), WebConfig.from_env(env)
    except ConfigError as exc:
        raise ResizerError(f"the deployed function's settings are invalid: {exc}",
                           "fix them and run `resizer setup` again") from None
    try:
        apis = read_apis(target, stack, details=False)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading the HTTP API") from None
    if not apis.ours:
        raise ResizerError(f"stack {stack} has no HTTP API", "run `resizer setup --api`")
    endpoint = invoke_url(target, apis.ours[0])

    rel = key.removeprefix(config.source_prefix) if config.source_prefix else key
    if not rel or rel.endswith("/"):
        raise ResizerError(f"{key!r} names no image", "give the key of an uploaded image, "
                           f"e.g. {config.source_prefix}photo.jpg", exit_code=USAGE)
    box = _box(size, web.allowlist(config.sizes), stack)
    path = f"/{box[0]}x{box[1]}/{rel}"

    query: list[tuple[str, str]] = []
    when: int | None = None
    if web.secret is None and not web.unsigned:
        raise ResizerError(f"the function of stack {stack} has no URL secret yet",
                           "run `resizer setup` to finish deploying it")
    if valid_for is not None:
        if web.secret is None:
            raise ResizerError("--expires needs signed URLs, and this stack accepts unsigned "
                               "ones", "leave out --expires, or `resizer setup --api-signed`",
                               exit_code=USAGE)
        when = int(now if now is not None else time.time()) + valid_for
        query.append(("expires", str(when)))
    if web.secret is not None:
        query.append(("sig", signing.sign(web.secret, path, when)))
    if chosen:
        query.append(("format", chosen))
    url = endpoint.rstrip("/") + quote(path, safe="/") + (f"?{urlencode(query)}" if query else "")
    return RenditionUrl(url, endpoint, path, when, web.secret is not None)


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    bytes: int
    ms: float
    rendition: str  # stored or made (the function's X-Resizer-Rendition), "" otherwise

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "content_type": self.content_type,
                "bytes": self.bytes, "ms": round(self.ms, 1), "rendition": self.rendition}


def fetch(url: str, *, accept: str = "", timeout: float = 60) -> Fetched:
    """GET a rendition as a browser would (redirects followed); errors are answers too."""
    import urllib.error
    import urllib.request

    headers = {"Accept": accept} if accept else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            body, status, resp_headers = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        body, status, resp_headers = exc.read(), exc.code, exc.headers
    except OSError as exc:
        raise ResizerError(f"GET {url} failed: {exc}", "check that the endpoint is up") from None
    return Fetched(url, status, str(resp_headers.get("Content-Type", "")), len(body),
                   (time.perf_counter() - started) * 1000,
                   str(resp_headers.get("X-Resizer-Rendition", "")))
