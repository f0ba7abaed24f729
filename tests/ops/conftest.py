"""Fixtures for the upload/logs unit tests: a stack in moto (in-process) and a stand-in handler.

The stand-in handler is the *input* of the upload tests: it reacts to objects under raw/ the
way the contract says the real handler does (thumbnails, then a result record carrying the
source ETag), using real Pillow on the uploaded bytes.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from PIL import Image, UnidentifiedImageError

from resizer_cli.aws import Target
from resizer_cli.settings import Settings

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def deploy_fake_stack(target: Target) -> None:
    names = target.names
    iam = target.client("iam")
    role = iam.create_role(RoleName=names.role, AssumeRolePolicyDocument=json.dumps(TRUST))
    s3 = target.client("s3")
    s3.create_bucket(Bucket=names.source_bucket)
    s3.create_bucket(Bucket=names.dest_bucket)
    target.client("lambda").create_function(
        FunctionName=names.function, Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="handler.handler", Code={"ZipFile": _zip()},
        Environment={"Variables": {"DEST_BUCKET": names.dest_bucket, "SOURCE_PREFIX": "raw/",
                                   "DEST_PREFIX": "thumbnails/", "RESULTS_PREFIX": "results/"}},
    )


@pytest.fixture
def aws_target() -> Iterator[Target]:
    """A Target on moto in-process, with no stack deployed."""
    with mock_aws():
        yield Target(Settings(stack="optest", target="aws", region="us-east-1"))


@pytest.fixture
def stack(aws_target: Target) -> Target:
    deploy_fake_stack(aws_target)
    return aws_target


class FakeHandler:
    """Polls raw/ and, per new (key, ETag), writes a 64x64 thumbnail and the result record."""

    def __init__(self, target: Target, *, delay: float = 0.0) -> None:
        self.s3 = target.client("s3")
        self.src = target.names.source_bucket
        self.dst = target.names.dest_bucket
        self.delay = delay
        self.done: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeHandler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.src,
                                                                      Prefix="raw/")
            for page in pages:
                for obj in page.get("Contents", []):
                    mark = (obj["Key"], obj["ETag"])
                    if mark not in self.done:
                        self.done.add(mark)
                        self.process(obj["Key"])
            self._stop.wait(0.05)

    def process(self, key: str) -> None:
        obj = self.s3.get_object(Bucket=self.src, Key=key)
        data = obj["Body"].read()
        etag = obj["ETag"].strip('"')
        rel = key[len("raw/"):]
        record: dict[str, Any] = {"source_bucket": self.src, "source_key": key,
                                  "source_etag": etag, "source_size": len(data)}
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                fmt = im.format
                record.update(width=im.width, height=im.height, format=fmt)
                im.thumbnail((64, 64))
                out = io.BytesIO()
                im.convert("RGB").save(out, "JPEG" if fmt != "PNG" else "PNG")
                size = im.size
        except (UnidentifiedImageError, OSError) as exc:
            record.update(status="error", error="corrupt", reason=f"cannot decode: {exc}",
                          outputs=[])
        else:
            tkey = f"thumbnails/64x64/{rel}"
            self.s3.put_object(Bucket=self.dst, Key=tkey, Body=out.getvalue())
            record.update(status="ok", outputs=[{
                "key": tkey, "width": size[0], "height": size[1], "bytes": len(out.getvalue()),
                "format": "jpeg", "content_type": "image/jpeg"}])
        record.update(ms=1, time=time.time())
        self.s3.put_object(Bucket=self.dst, Key=f"results/{rel}.json",
                           Body=json.dumps(record).encode(), ContentType="application/json")


class RealHandler(FakeHandler):
    """The same trigger loop, but each object goes through `lambda_handler.handler.handler`."""

    def process(self, key: str) -> None:
        from urllib.parse import quote_plus

        from lambda_handler import handler as real

        event = {"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": self.src}, "object": {"key": quote_plus(key)}},
        }]}
        real.handler(event, None)


def make_image(path: Path, size: tuple[int, int] = (200, 150), fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 80, 40)).save(path, fmt)
    return path


@pytest.fixture
def fake_handler() -> type[FakeHandler]:
    return FakeHandler


@pytest.fixture
def real_handler(monkeypatch: pytest.MonkeyPatch, stack: Target) -> Iterator[type[RealHandler]]:
    from lambda_handler import handler as real

    env = {"DEST_BUCKET": stack.names.dest_bucket, "SIZES": "128x128,32x32",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    real.reset_client()
    yield RealHandler
    real.reset_client()


@pytest.fixture
def image() -> Any:
    return make_image
