"""Where each output goes, and which keys are ours (so a shared bucket cannot loop)."""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from lambda_handler.thumbnail import EXTENSIONS

# Extensions we recognise as an image's; anything else is kept and the new one appended.
_IMAGE_EXTENSIONS = {ext for exts in EXTENSIONS.values() for ext in exts} | {
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
    ".heic",
    ".heif",
    ".mpo",
}
# RFC 3986 unreserved and sub-delimiters stay readable; "%" itself is escaped, so
# urllib.parse.unquote always gives the key back exactly.
_METADATA_SAFE = "/-_.~!$&'()*+,;=:@"


def relative_key(key: str, source_prefix: str) -> str | None:
    """The key below the source prefix, or None if the key is not a source image."""
    if not key.startswith(source_prefix) or key.endswith("/"):
        return None
    rel = key[len(source_prefix) :]
    return rel or None


def is_own_output(
    bucket: str, key: str, dest_bucket: str, dest_prefix: str, results_prefix: str
) -> bool:
    """A thumbnail or result record we wrote: processing it again would loop forever."""
    return bucket == dest_bucket and key.startswith((dest_prefix, results_prefix))


def output_key(dest_prefix: str, box: tuple[int, int], rel: str, fmt: str) -> str:
    """`<dest_prefix><W>x<H>/<rel>`, with the extension changed only if the format changed."""
    head, name = posixpath.split(rel)
    stem, ext = posixpath.splitext(name)
    if ext.lower() not in EXTENSIONS[fmt]:
        if ext.lower() in _IMAGE_EXTENSIONS:
            name = stem + EXTENSIONS[fmt][0]
        else:  # no extension, or one that is not an image's ("photo.v2")
            name = name + EXTENSIONS[fmt][0]
    return f"{dest_prefix}{box[0]}x{box[1]}/{posixpath.join(head, name) if head else name}"


def result_key(results_prefix: str, rel: str) -> str:
    return f"{results_prefix}{rel}.json"


def metadata_value(text: str) -> str:
    """S3 user metadata must be ASCII: percent-encode the rest (decode with unquote)."""
    return quote(text, safe=_METADATA_SAFE)


# S3's limits: "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is
# at most 1,024 bytes long", and user-defined metadata at most 2 KB, "the sum of the number of
# bytes in the UTF-8 encoding of each key and value" (counted here with the x-amz-meta- prefix
# each name travels with, to stay on the safe side).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
_META_PREFIX = "x-amz-meta-"


def key_problem(key: str, what: str) -> str | None:
    """Why `key` cannot be written to S3, or None."""
    size = len(key.encode("utf-8"))
    if size <= MAX_KEY_BYTES:
        return None
    return (
        f"the key of {what} would be {size} bytes, over S3's {MAX_KEY_BYTES}: "
        "upload the image under a shorter name"
    )


def metadata_size(metadata: dict[str, str]) -> int:
    return sum(len((_META_PREFIX + k).encode()) + len(v.encode()) for k, v in metadata.items())


def metadata_problem(metadata: dict[str, str]) -> str | None:
    """Why these user metadata cannot be sent to S3, or None."""
    size = metadata_size(metadata)
    if size <= MAX_METADATA_BYTES:
        return None
    return (
        f"the thumbnails' metadata (the source key, percent-encoded) would be {size} bytes, "
        f"over S3's {MAX_METADATA_BYTES}: upload the image under a shorter name"
    )
