"""Where the deployed stack keeps things: buckets and prefixes, as its function is configured."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lambda_handler.config import DEFAULTS, Config, ConfigError, parse_sizes
from lambda_handler.freshness import settings_hash
from lambda_handler.web.config import WebConfig
from resizer_cli.aws import Target
from resizer_cli.deploy.stack import require_stack
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.naming import DEST_PREFIX, RESULTS_PREFIX, SOURCE_PREFIX

DEFAULT_SIZES = parse_sizes(DEFAULTS["SIZES"])


@dataclass(frozen=True)
class StackLayout:
    source_bucket: str
    dest_bucket: str
    source_prefix: str = SOURCE_PREFIX
    dest_prefix: str = DEST_PREFIX
    results_prefix: str = RESULTS_PREFIX
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES
    output_format: str = DEFAULTS["OUTPUT_FORMAT"]
    function: str = ""
    failures_prefix: str = ""  # where Lambda keeps the function's failed events ("" = none)
    settings_hash: str = ""  # of the deployed settings (lambda_handler.freshness)
    timeout: int = 0  # the function's, in seconds
    function_modified: datetime | None = None  # when its code or configuration last changed
    # Sizes renditions on the fly are made in (SIZES plus API_SIZES; () without the HTTP API),
    # in any output format a request may ask for.
    http_sizes: tuple[tuple[int, int], ...] = ()

    def record_key(self, source_key: str) -> str:
        return f"{self.results_prefix}{source_key[len(self.source_prefix):]}.json"



def require_deployed(target: Target) -> None:
    """StackNotFound (one line pointing to `resizer setup`) when the stack is not there."""
    require_stack(target)


def stack_layout(target: Target) -> StackLayout:
    """Buckets and prefixes, as the deployed function is configured (falling back to names)."""
    names = target.names
    env: dict[str, str] = {}
    conf: dict[str, Any] = {}
    try:
        conf = target.client("lambda").get_function_configuration(FunctionName=names.function)
        env = conf.get("Environment", {}).get("Variables", {}) or {}
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise target.stack_not_found() from None
        raise
    try:
        # The function's own parser, so prefixes, sizes and format are read as it reads them.
        config = Config.from_env(env)
    except ConfigError as exc:
        raise ResizerError(
            f"the deployed function's settings are invalid: {exc}",
            "fix them and run `resizer setup` again",
        ) from None
    return StackLayout(
        source_bucket=names.source_bucket,
        dest_bucket=config.dest_bucket or names.dest_bucket,
        source_prefix=config.source_prefix,
        dest_prefix=config.dest_prefix,
        results_prefix=config.results_prefix,
        sizes=config.sizes,
        output_format=config.output_format,
        function=names.function,
        failures_prefix=names.failures_prefix,
        settings_hash=settings_hash(config),
        timeout=int(conf.get("Timeout") or 0),
        function_modified=_lambda_time(conf.get("LastModified")),
        http_sizes=_http_sizes(env, config.sizes),
    )


def _http_sizes(env: dict[str, str], sizes: tuple[tuple[int, int], ...]) -> tuple[
    tuple[int, int], ...
]:
    web = WebConfig.from_env(env)
    if not (web.secret or web.unsigned):  # no HTTP API: the function serves no renditions
        return ()
    return web.allowlist(sizes)


_LAMBDA_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$")


def _lambda_time(text: Any) -> datetime | None:
    """Lambda's LastModified (2026-11-28T14:00:00.123+0000; moto writes nanoseconds and Z)."""
    m = _LAMBDA_TIME.match(str(text or ""))
    if not m:
        return None
    zone = "+0000" if m.group(3) == "Z" else m.group(3).replace(":", "")
    fraction = (m.group(2) or "0")[:6].ljust(6, "0")
    return datetime.strptime(f"{m.group(1)}.{fraction}{zone}", "%Y-%m-%dT%H:%M:%S.%f%z")
