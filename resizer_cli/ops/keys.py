"""Source keys, and the keys and metadata the function will derive from them.

A key is `<source prefix><--prefix/><relative path>`. Before anything is sent, each key is
checked against what S3 accepts, for the key itself and for what the function writes for it
(its key functions are imported from `lambda_handler`, so the two cannot disagree):
- keys are at most 1,024 bytes of UTF-8
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html);
- user metadata is at most 2 KB, counted as the UTF-8 bytes of each name and value without
  the `x-amz-meta-` prefix (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html).
  Thumbnails carry the source key percent-encoded, up to three bytes per character.
Over a limit, S3 refuses the function's PUT on every retry and no result record is written.
"""

from __future__ import annotations

import os
import unicodedata
from typing import TYPE_CHECKING

from lambda_handler.keys import (
    metadata_size,
    metadata_value,
    output_key,
    relative_key,
    result_key,
)

# The function's own choice of output format, so predicted thumbnail keys are its keys.
from lambda_handler.thumbnail.encode import output_format
from resizer_cli.errors import ResizerError

if TYPE_CHECKING:
    from resizer_cli.ops.layout import StackLayout

KEY_MAX_BYTES = 1024
METADATA_MAX_BYTES = 2048
# A multipart ETag is the longest: 32 hex digits, '-', up to 10,000 parts.
_ETAG_MAX = 32 + 1 + 5
# Content-Type sniffed from the bytes -> the Pillow format the function will decode.
_DECODED = {
    "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
    "image/tiff": "TIFF", "image/bmp": "BMP", "image/avif": "AVIF",
}
_SHORTER = "use a shorter file name, folder path or --prefix"


def key_part(rel: str) -> str:
    # NFC: macOS hands out decomposed names; S3 keys compare bytes.
    return unicodedata.normalize("NFC", rel.replace(os.sep, "/"))


def clean_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    parts = [p for p in prefix.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ResizerError(
            f"invalid --prefix {prefix!r}", "use a plain folder name such as 2024/trip"
        )
    return "".join(f"{key_part(p)}/" for p in parts)


def bad_segment(key: str) -> str | None:
    """The first empty, `.` or `..` segment of a key: S3 keeps them, file systems do not."""
    for part in key.split("/"):
        if part in ("", ".", ".."):
            return part
    return None


def thumbnail_keys(key: str, content_type: str, layout: StackLayout) -> list[str]:
    """The keys the function will write the thumbnails of `key` to ([] if it decodes none)."""
    source_format = _DECODED.get(content_type)
    rel = relative_key(key, layout.source_prefix)
    if source_format is None or rel is None:
        return []
    fmt = output_format(source_format, layout.output_format)
    return [output_key(layout.dest_prefix, box, rel, fmt) for box in layout.sizes]


def over_limit(key: str, content_type: str, layout: StackLayout) -> str | None:
    """Why S3 would refuse this key or what the function derives from it; None when it fits."""
    size = len(key.encode())
    if size > KEY_MAX_BYTES:
        return f"its key would be {size} bytes; S3 allows {KEY_MAX_BYTES} ({_SHORTER})"
    rel = relative_key(key, layout.source_prefix) or ""
    record = result_key(layout.results_prefix, rel)
    thumbs = thumbnail_keys(key, content_type, layout)
    for what, derived in [("result record", record)] + [("thumbnail", t) for t in thumbs]:
        size = len(derived.encode())
        if size > KEY_MAX_BYTES:
            return (f"its {what} key would be {size} bytes; S3 allows {KEY_MAX_BYTES} "
                    f"({_SHORTER})")
    if thumbs:
        # Measured as the function measures it, with the longest ETag the upload can get.
        meta = metadata_size({
            "source-bucket": metadata_value(layout.source_bucket),
            "source-key": metadata_value(key),
            "source-etag": "0" * _ETAG_MAX,
        })
        if meta > METADATA_MAX_BYTES:
            return (f"its thumbnails' metadata (the key, percent-encoded) would be {meta} "
                    f"bytes; S3 allows {METADATA_MAX_BYTES} ({_SHORTER})")
    return None
