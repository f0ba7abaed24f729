"""Where the deployed stack keeps things: buckets and prefixes, as its function is configured."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy.stack import require_stack
from resizer_cli.errors import StackNotFound, error_code
from resizer_cli.naming import DEST_PREFIX, RESULTS_PREFIX, SOURCE_PREFIX


@dataclass(frozen=True)
class StackLayout:
    source_bucket: str
    dest_bucket: str
    source_prefix: str = SOURCE_PREFIX
    dest_prefix: str = DEST_PREFIX
    results_prefix: str = RESULTS_PREFIX

    def record_key(self, source_key: str) -> str:
        return f"{self.results_prefix}{source_key[len(self.source_prefix):]}.json"


def _where(target: Target) -> str:
    if target.is_local:
        return "the local emulator"
    return f"AWS {target.settings.region}"


def require_deployed(target: Target) -> None:
    """StackNotFound (one line pointing to `resizer setup`) when the stack is not there."""
    require_stack(target)


def stack_layout(target: Target) -> StackLayout:
    """Buckets and prefixes, as the deployed function is configured (falling back to names)."""
    names = target.names
    env: dict[str, str] = {}
    try:
        conf = target.client("lambda").get_function_configuration(FunctionName=names.function)
        env = conf.get("Environment", {}).get("Variables", {}) or {}
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise StackNotFound(target.settings.stack, _where(target)) from None
        raise
    return StackLayout(
        source_bucket=names.source_bucket,
        dest_bucket=env.get("DEST_BUCKET") or names.dest_bucket,
        source_prefix=env.get("SOURCE_PREFIX") or SOURCE_PREFIX,
        dest_prefix=env.get("DEST_PREFIX") or DEST_PREFIX,
        results_prefix=env.get("RESULTS_PREFIX") or RESULTS_PREFIX,
    )
