"""S3 naming rules moto does not enforce, answered the way S3 answers them.

- A key is at most 1024 bytes of UTF-8: a longer one is refused with `KeyTooLongError` (400).
- A path that is not UTF-8 once percent-decoded is `InvalidURI` (400), where moto stored a
  name with replacement characters in it.
- Any UTF-8 character may be in a key, newlines included: moto's routes match keys with `.+`,
  which stops at a newline and answered "404: Not Found"; `patch_routes` widens them.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from resizer_cli.emulator import awserrors
from resizer_cli.emulator.awserrors import ServiceError
from resizer_cli.emulator.gate import SERVICE_KEY, raw_target

MAX_KEY_BYTES = 1024
_KEY_PATTERNS = {"(?P<key_name>.+)": r"(?P<key_name>[\s\S]+)",
                 "(?P<key_name>/.*)": r"(?P<key_name>/[\s\S]*)"}


def _widen(url_paths: dict[str, Any]) -> None:
    for path in list(url_paths):
        new = path
        for old, wide in _KEY_PATTERNS.items():
            new = new.replace(old, wide)
        if new != path:
            url_paths[new] = url_paths.pop(path)


def patch_routes() -> None:
    """Let moto's S3 key routes match any character (before moto builds its S3 app).

    moto reloads `moto.s3.urls` each time it reads the routes (`S3Backend._url_module`), so
    the widening is applied right after that reload."""
    from moto.s3.models import S3Backend

    original: property = S3Backend.__dict__["_url_module"]
    if getattr(original.fget, "__resizer_widened__", False):
        return

    def url_module(self: Any) -> Any:
        module = original.__get__(self)
        _widen(module.url_paths)
        return module

    url_module.__resizer_widened__ = True  # type: ignore[attr-defined]
    S3Backend._url_module = property(url_module)  # type: ignore[method-assign,assignment]


def _check(environ: dict[str, Any]) -> None:
    path = unquote_to_bytes(raw_target(environ)[0])
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceError(400, "InvalidURI", "Couldn't parse the specified URI.",
                           URI=path.decode("utf-8", "replace")) from None
    _, _, key = path.lstrip(b"/").partition(b"/")  # path-style: /bucket/key
    if len(key) > MAX_KEY_BYTES and environ.get("REQUEST_METHOD") in ("PUT", "POST"):
        raise ServiceError(400, "KeyTooLongError", "Your key is too long",
                           Size=str(len(key)), MaxSizeAllowed=str(MAX_KEY_BYTES))


def rules(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI stage after the gate, for S3 requests only."""

    def stage(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get(SERVICE_KEY) == "s3":
            try:
                _check(environ)
            except ServiceError as error:
                return awserrors.respond(error, "s3", start_response,
                                         resource=environ.get("PATH_INFO", ""))
        return app(environ, start_response)

    return stage
