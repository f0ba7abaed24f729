"""A rendition: served as stored, or made, stored and served.

A rendition is exactly the thumbnail key the upload path writes (`thumbnails/<W>x<H>/<rel>`,
with the extension of its format) and carries the same metadata, so whichever path makes it
first, the other serves it. The stored one is found in one GET (its format guessed from the
name); only when it is missing is the original read, and if the bytes say another format than
the name, that key is looked up before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_handler.config import Config
from lambda_handler.keys import key_problem, metadata_problem, metadata_value, output_key
from lambda_handler.s3client import (
    DENIED_CODES,
    MISSING_CODES,
    deleted_meanwhile,
    error_code,
    expected_owner,
)
from lambda_handler.web import negotiate, respond
from lambda_handler.web.request import Request

PRESIGN_S = 3600  # a redirect's presigned GET stays valid this long
REDIRECT_MAX_AGE_S = 300
_NOT_MODIFIED = ("304", "NotModified")


class SourceMissing(Exception):
    pass


class S3Trouble(Exception):
    def __init__(self, operation: str, exc: BaseException) -> None:
        super().__init__(f"{operation}: {exc}")
        self.operation = operation
        self.exc = exc


@dataclass(frozen=True)
class Where:
    source_bucket: str
    dest_bucket: str
    source_owner: dict[str, str]
    dest_owner: dict[str, str]


@dataclass
class Outcome:
    response: dict[str, Any]
    how: str  # stored, made, not_modified, redirect
    key: str
    bytes: int = 0


def where(config: Config, source_bucket: str, context: Any) -> Where:
    dest = config.dest_bucket or source_bucket
    source_owner = expected_owner("SOURCE_BUCKET_OWNER", context)
    dest_owner = expected_owner("DEST_BUCKET_OWNER", context) if dest != source_bucket else (
        source_owner)
    return Where(source_bucket, dest, source_owner, dest_owner)


def _single_tag(if_none_match: str) -> str | None:
    """The one ETag S3 can compare itself (saving the body), or None."""
    tags = [t.strip() for t in if_none_match.split(",") if t.strip()]
    if len(tags) == 1 and tags[0] != "*":
        return tags[0].removeprefix("W/")
    return None


_presigner: Any = None


def _presign(bucket: str, key: str) -> str:
    # SigV4 always: boto3 presigns with SigV2 in us-east-1 unless told, which S3 refuses for
    # new buckets (and the emulator for any).
    global _presigner
    if _presigner is None:
        from lambda_handler.s3client import default_client

        _presigner = default_client(signature_version="s3v4")
    return str(_presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_S))


class Server:
    """One request's work against S3, with the function's client."""

    def __init__(
        self, client: Any, config: Config, place: Where, req: Request,
        choice: negotiate.Choice,
    ) -> None:
        self.s3 = client
        self.config = config
        self.place = place
        self.req = req
        self.choice = choice
        self.if_none_match = req.header("if-none-match")

    # -- the stored rendition -------------------------------------------------------------
    def stored(self, key: str) -> Outcome | None:
        kwargs: dict[str, Any] = {"Bucket": self.place.dest_bucket, "Key": key,
                                  **self.place.dest_owner}
        tag = _single_tag(self.if_none_match)
        if tag:
            kwargs["IfNoneMatch"] = tag
        try:
            obj = self.s3.get_object(**kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code in _NOT_MODIFIED:
                return Outcome(self._not_modified(tag or ""), "not_modified", key)
            if code in MISSING_CODES:
                return None
            if code in DENIED_CODES and deleted_meanwhile(
                self.s3, self.place.dest_bucket, key, self.place.dest_owner
            ):
                return None
            raise S3Trouble("GetObject", exc) from exc
        etag = str(obj.get("ETag", ""))
        size = int(obj.get("ContentLength") or 0)
        if respond.etag_matches(self.if_none_match, etag):
            obj["Body"].close()
            return Outcome(self._not_modified(etag), "not_modified", key)
        if not respond.fits_inline(size):
            obj["Body"].close()
            return Outcome(self._redirect(key), "redirect", key, size)
        try:
            data = obj["Body"].read()
        except Exception as exc:
            raise S3Trouble("GetObject", exc) from exc
        content_type = str(obj.get("ContentType") or "application/octet-stream")
        cache = str(obj.get("CacheControl") or self.config.cache_control)
        return Outcome(respond.image(data, content_type, etag, cache, vary=self.choice.vary,
                                     source="stored"), "stored", key, len(data))

    def _not_modified(self, etag: str) -> dict[str, Any]:
        return respond.not_modified(etag, self.config.cache_control, vary=self.choice.vary)

    def _redirect(self, key: str) -> dict[str, Any]:
        try:
            url = _presign(self.place.dest_bucket, key)
        except Exception as exc:
            raise S3Trouble("presign GetObject", exc) from exc
        return respond.redirect(url, REDIRECT_MAX_AGE_S, vary=self.choice.vary)

    # -- making one -----------------------------------------------------------------------
    def source(self) -> tuple[bytes, str]:
        """The original's bytes and ETag; SourceMissing when there is none."""
        key = self.config.source_prefix + self.req.rel
        bucket, owner = self.place.source_bucket, self.place.source_owner
        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key, **owner)
        except Exception as exc:
            code = error_code(exc)
            if code in MISSING_CODES or (
                code in DENIED_CODES and deleted_meanwhile(self.s3, bucket, key, owner)
            ):
                raise SourceMissing(key) from None
            raise S3Trouble("GetObject", exc) from exc
        from lambda_handler.handler import _too_big_to_read
        from lambda_handler.thumbnail import ThumbnailError

        too_big = _too_big_to_read(int(obj.get("ContentLength") or 0), self.config)
        if too_big:
            obj["Body"].close()
            raise ThumbnailError("too_large", too_big)
        try:
            return obj["Body"].read(), str(obj.get("ETag", "")).strip('"')
        except Exception as exc:
            raise S3Trouble("GetObject", exc) from exc

    def make(self, expected_key: str) -> Outcome:
        """Render the one size asked for, store it, answer it (ThumbnailError if we cannot)."""
        from lambda_handler.thumbnail import ThumbnailError, render

        data, source_etag = self.source()
        c = self.config
        rendering = render(data, [self.req.box], fit=c.fit, gravity=c.gravity,
                           output_format=self.choice.requested, quality=c.quality,
                           max_pixels=c.max_pixels, memory_limit_mb=c.memory_mb)
        del data
        thumb = rendering.thumbnails[0]
        key = output_key(c.dest_prefix, self.req.box, self.req.rel, thumb.format)
        if key != expected_key:  # the name misled us: that rendition may exist already
            found = self.stored(key)
            if found is not None:
                return found
        source_key = c.source_prefix + self.req.rel
        metadata = {
            "source-bucket": metadata_value(self.place.source_bucket),
            "source-key": metadata_value(source_key),
            "source-etag": metadata_value(source_etag),
        }
        too_long = key_problem(key, "the rendition") or metadata_problem(metadata)
        if too_long:
            raise ThumbnailError("key_too_long", too_long)
        try:
            put = self.s3.put_object(
                Bucket=self.place.dest_bucket, Key=key, Body=thumb.data,
                ContentType=thumb.content_type, CacheControl=c.cache_control,
                Metadata=metadata, **self.place.dest_owner,
            )
        except Exception as exc:
            raise S3Trouble("PutObject", exc) from exc
        etag = str(put.get("ETag", ""))
        if not respond.fits_inline(thumb.bytes):
            return Outcome(self._redirect(key), "redirect", key, thumb.bytes)
        if respond.etag_matches(self.if_none_match, etag):
            return Outcome(self._not_modified(etag), "not_modified", key, thumb.bytes)
        return Outcome(respond.image(thumb.data, thumb.content_type, etag, c.cache_control,
                                     vary=self.choice.vary, source="made"),
                       "made", key, thumb.bytes)


def serve(server: Server) -> Outcome:
    key = output_key(server.config.dest_prefix, server.req.box, server.req.rel,
                     negotiate.expected_format(server.choice, server.req.rel))
    found = server.stored(key)
    return found if found is not None else server.make(key)
