"""The image `resizer tune` measures with: placed in the stack, fed to the function, removed.

- The sample is the user's `--image`, or our own: a generated photo-like 12 MP JPEG
  (4000x3000, ops.demo.photo), made once and kept in the cache folder.
- It is uploaded to a key of its own, `<source prefix>.resizer-tune/<random>.<ext>`, so it can
  collide with no user image. That upload fires the bucket's notification once: its
  invocation is waited for (its result record), so it never runs beside a measurement.
- Each measured invoke carries an S3-shaped record for that key. The function keeps no
  freshness check of its own (only `resizer backfill` compares records), so every invoke
  really downloads, decodes, resizes, encodes and writes the thumbnails.
- Afterwards the sample, its thumbnails and its result record are deleted (the deletion's
  notification then finds nothing more to remove).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, UnidentifiedImageError

from resizer_cli.deploy.notifications import filter_rules
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.ops.content import sniff_image
from resizer_cli.ops.fanout import SourceObject, s3_record
from resizer_cli.ops.keys import thumbnail_keys
from resizer_cli.ops.layout import StackLayout
from resizer_cli.ops.watch import unquote_etag
from resizer_cli.paths import cache_dir

SAMPLE_FOLDER = ".resizer-tune/"
DEFAULT_SIZE = (4000, 3000)  # 12 MP, a phone photo's pixel count
EVENT_NAME = "ObjectCreated:Tune"
EVENT_SOURCE = "resizer:tune"
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
               "image/webp": ".webp", "image/tiff": ".tif", "image/bmp": ".bmp",
               "image/heic": ".heic", "image/heif": ".heif", "image/avif": ".avif"}
_TYPES = {ext: ct for ct, ext in _EXTENSIONS.items()}
STALE_AFTER = timedelta(hours=1)  # longer than any tune run: a sample older is a leftover
_PILLOW_CANNOT_OPEN = ("image/heic", "image/heif")  # without pillow-heif, here


@dataclass(frozen=True)
class Sample:
    data: bytes
    content_type: str
    description: str  # says which image it is, for the output

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.content_type, "")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def default_sample() -> Sample:
    """Our own sample: a photo-like 12 MP JPEG, generated once (~3 s) and cached."""
    from resizer_cli.ops.demo import photo

    width, height = DEFAULT_SIZE
    path = cache_dir() / "tune" / f"photo-{width}x{height}.jpg"
    if not path.is_file():
        buf = io.BytesIO()
        photo(width, height).save(buf, "JPEG", quality=90)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)  # atomic: two runs at once never read half a file
    data = path.read_bytes()
    return Sample(data, "image/jpeg", f"a generated 12 MP photo-like JPEG ({width}x{height}, "
                                      f"{_size(len(data))})")


def read_image(path: Path) -> Sample:
    """The user's --image, checked to be an image before anything is changed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResizerError(f"cannot read --image {path}: {exc.strerror or exc}",
                           "pass an image file you can read") from None
    content_type = sniff_image(data[:32])
    if content_type is None:
        raise ResizerError(f"--image {path} is not an image (its first bytes are no image "
                           "format's)", "pass a JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC or AVIF")
    size = ""
    if content_type not in _PILLOW_CANNOT_OPEN:
        try:
            with Image.open(io.BytesIO(data)) as img:
                size = f"{img.width}x{img.height}, "
                img.verify()
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            raise ResizerError(f"--image {path} cannot be decoded: {exc}",
                               "pass an image that opens in an image viewer") from None
    return Sample(data, content_type, f"{path} ({size}{_size(len(data))})")


@dataclass
class Placed:
    """The sample in the source bucket."""

    key: str
    etag: str
    size: int
    version_id: str | None = None  # set when the bucket keeps versions (a brought one)

    def event(self, layout: StackLayout, region: str, partition: str) -> bytes:
        obj = SourceObject(self.key, self.etag, self.size, datetime.now(UTC))
        record = s3_record(layout.source_bucket, region, obj, datetime.now(UTC), partition)
        record["eventName"], record["eventSource"] = EVENT_NAME, EVENT_SOURCE
        record["s3"]["configurationId"] = "resizer-tune"
        return json.dumps({"Records": [record]}).encode()


def place(s3: Any, layout: StackLayout, sample: Sample) -> Placed:
    key = f"{layout.source_prefix}{SAMPLE_FOLDER}{uuid.uuid4().hex}{sample.extension}"
    resp = s3.put_object(Bucket=layout.source_bucket, Key=key, Body=sample.data,
                         ContentType=sample.content_type)
    return Placed(key, unquote_etag(resp.get("ETag")), len(sample.data),
                  resp.get("VersionId"))


def read_record(s3: Any, layout: StackLayout, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=layout.dest_bucket, Key=layout.record_key(key))["Body"]
        record = json.loads(body.read())
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def notified(s3: Any, layout: StackLayout, key: str) -> bool:
    """Does an upload of `key` invoke the function (a rule of the source bucket's that
    matches it)? When the configuration cannot be read, assume it does."""
    try:
        config = s3.get_bucket_notification_configuration(Bucket=layout.source_bucket)
    except (BotoCoreError, ClientError):
        return True
    for entry in config.get("LambdaFunctionConfigurations") or []:
        arn = str(entry.get("LambdaFunctionArn", ""))
        events = [str(e) for e in entry.get("Events") or []]
        prefix, suffix = filter_rules(entry)
        if (arn.endswith(f":function:{layout.function}")
                and any(e.startswith("s3:ObjectCreated:") for e in events)
                and key.startswith(prefix) and key.endswith(suffix)):
            return True
    return False


def await_notification(s3: Any, layout: StackLayout, placed: Placed, timeout: float) -> bool:
    """Wait for the invocation the upload's own S3 event makes; False if it did not come."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        record = read_record(s3, layout, placed.key)
        if record is not None and unquote_etag(record.get("source_etag")) == placed.etag:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def remove(s3: Any, layout: StackLayout, placed: Placed, content_type: str) -> None:
    """Delete the sample, its thumbnails and its result record (what is already gone is fine)."""
    outputs = set(thumbnail_keys(placed.key, content_type, layout))
    outputs.add(layout.record_key(placed.key))
    try:
        record = read_record(s3, layout, placed.key)
    except (BotoCoreError, ClientError):
        record = None
    for out in (record or {}).get("outputs") or []:
        if isinstance(out, dict) and out.get("key"):
            outputs.add(str(out["key"]))
    extra = {"VersionId": placed.version_id} if placed.version_id else {}
    s3.delete_object(Bucket=layout.source_bucket, Key=placed.key, **extra)
    resp = s3.delete_objects(Bucket=layout.dest_bucket, Delete={
        "Objects": [{"Key": k} for k in sorted(outputs)], "Quiet": True})
    errors = resp.get("Errors") or []
    if errors:
        first = errors[0]
        raise ResizerError(f"could not delete {first.get('Key')}: {first.get('Code')}: "
                           f"{first.get('Message')}", "delete it by hand")


def sweep(s3: Any, layout: StackLayout) -> int:
    """Remove the samples (and outputs) an interrupted run left over an hour ago; how many."""
    prefix = f"{layout.source_prefix}{SAMPLE_FOLDER}"
    cutoff = datetime.now(UTC) - STALE_AFTER
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=layout.source_bucket,
                                                             Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["LastModified"] >= cutoff:
                continue  # perhaps another machine's run, still going
            key = str(obj["Key"])
            content_type = _TYPES.get(key[key.rfind("."):], "image/jpeg")
            remove(s3, layout, Placed(key, unquote_etag(obj.get("ETag")),
                                      int(obj.get("Size", 0))), content_type)
            removed += 1
    return removed
