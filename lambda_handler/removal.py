"""Deletions followed: when an original goes, so do its thumbnails and its result record.

An `s3:ObjectRemoved:*` record (DeleteObject, each key of a DeleteObjects, or a delete marker in
a versioned bucket) makes the function delete, in the destination bucket, every thumbnail it
could have written for that key (each configured size, in each output format) and the key's
result record, with one DeleteObjects request. Renditions of sizes no longer configured are
`resizer backfill --prune`'s job. The role may delete under those two prefixes only.

S3 does not order the events of one key, so a new upload of it may already have been processed
when its deletion's event arrives: the source key is looked up first, and if an object is there
again, its outputs stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_handler.config import OUTPUT_FORMATS, Config, ConfigError
from lambda_handler.keys import is_own_output, key_problem, output_key, relative_key, result_key
from lambda_handler.s3client import (
    DENIED_CODES,
    MISSING_CODES,
    deleted_meanwhile,
    error_code,
    expected_owner,
)

EVENTS = ("ObjectRemoved", "s3:ObjectRemoved")
FORMATS = tuple(f for f in OUTPUT_FORMATS if f != "auto")
_BATCH = 1000  # DeleteObjects takes at most this many keys


def outputs_of(
    config: Config, rel: str, extra_sizes: tuple[tuple[int, int], ...] = ()
) -> list[str]:
    """Every key the function could have written for `rel` with these settings; `extra_sizes`
    are the sizes only the HTTP path makes (API_SIZES)."""
    sizes = dict.fromkeys((*config.sizes, *extra_sizes))
    keys = [output_key(config.dest_prefix, size, rel, fmt) for size in sizes for fmt in FORMATS]
    keys.append(result_key(config.results_prefix, rel))
    return [k for k in dict.fromkeys(keys) if key_problem(k, "an output") is None]


def _http_sizes() -> tuple[tuple[int, int], ...]:
    """The sizes renditions on the fly may have been made in, beyond SIZES."""
    from lambda_handler.web.config import WebConfig

    try:
        return WebConfig.from_env().api_sizes
    except ConfigError:
        return ()  # the HTTP path refuses everything then: it made nothing


def follow(
    client: Any,
    bucket: str,
    key: str,
    config: Config,
    request_id: str | None,
    context: Any,
    *,
    log: Callable[..., None],
    failure: Callable[[str, Exception, dict[str, Any]], Exception],
) -> str:
    """Delete a removed original's outputs; "removed" or "skipped". S3 errors are raised as
    `failure(...)`, so Lambda retries the event."""
    dest = config.dest_bucket or bucket
    base = {"request_id": request_id, "bucket": bucket, "key": key}

    def skip(reason: str) -> str:
        log("info", "skipped", **base, reason=reason)
        return "skipped"

    if is_own_output(bucket, key, dest, config.dest_prefix, config.results_prefix):
        return skip("one of our own outputs")
    rel = relative_key(key, config.source_prefix)
    if rel is None:
        return skip(f"outside the source prefix {config.source_prefix!r}")
    source_owner = expected_owner("SOURCE_BUCKET_OWNER", context)
    dest_owner = expected_owner("DEST_BUCKET_OWNER", context) if dest != bucket else source_owner
    try:
        client.head_object(Bucket=bucket, Key=key, **source_owner)
    except Exception as exc:
        code = error_code(exc)
        gone = code in MISSING_CODES or (
            code in DENIED_CODES and deleted_meanwhile(client, bucket, key, source_owner)
        )
        if not gone:
            raise failure("HeadObject", exc, base) from exc
    else:
        return skip("the key holds an object again (uploaded since): its outputs stay")
    keys = outputs_of(config, rel, _http_sizes())
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        try:
            resp = client.delete_objects(
                Bucket=dest,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                **dest_owner,
            )
        except Exception as exc:
            raise failure("DeleteObjects", exc, base) from exc
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            problem = RuntimeError(
                f"{first.get('Code')}: {first.get('Message')} (key {first.get('Key')})"
            )
            raise failure("DeleteObjects", problem, base)
    log("info", "removed", **base, deleted=len(keys))
    return "removed"
