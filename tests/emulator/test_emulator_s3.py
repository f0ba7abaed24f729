"""S3 in the emulator: key rules as S3 enforces them, and large objects kept on disk."""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MB = 2**20


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_key_length_newlines_and_encoding_follow_s3(emu: Any) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="s3-rules")
    s3.put_object(Bucket="s3-rules", Key="k" * 1024, Body=b"max")  # 1024 bytes is allowed
    for key in ("k" * 1025, "é" * 513):  # the limit is in UTF-8 bytes, not characters
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="s3-rules", Key=key, Body=b"x")
        assert _error(err) == ("KeyTooLongError", 400)
        assert err.value.response["Error"]["Message"] == "Your key is too long"
        with pytest.raises(ClientError) as err:
            s3.create_multipart_upload(Bucket="s3-rules", Key=key)
        assert _error(err) == ("KeyTooLongError", 400)

    for key in ("line one\nline two", "tab\there", "cr\rlf", "日本/写真.jpg"):
        s3.put_object(Bucket="s3-rules", Key=key, Body=key.encode())
        assert s3.get_object(Bucket="s3-rules", Key=key)["Body"].read() == key.encode()
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="s3-rules")["Contents"]}
    assert {"line one\nline two", "tab\there", "cr\rlf", "日本/写真.jpg"} <= listed

    # A name that is not UTF-8 once percent-decoded: S3 cannot parse the URI.
    path = "/s3-rules/bad%FFname"
    parts = urlsplit(emu.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("PUT", path, body=b"x", headers=emu.sign("PUT", emu.endpoint + path, b"x"))
        resp = conn.getresponse()
        assert resp.status == 400 and b"<Code>InvalidURI</Code>" in resp.read()
    finally:
        conn.close()
    assert not any("name" in k for k in listed)


def _server_files(pid: int, spool: Path) -> list[int]:
    """Sizes of the files under the spool folder the server holds open."""
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(str(spool)):
                sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
        except OSError:
            continue
    return sizes


def test_large_objects_live_on_disk_and_round_trip(emu: Any, tmp_path: Path) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="s3-large")
    data = os.urandom(MB) * 20  # 20 MB: past the 8 MB kept in memory
    put = s3.put_object(Bucket="s3-large", Key="big.bin", Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    spool = emu.home / "state" / "emulator" / "spool"
    assert len(data) in _server_files(emu.pid, spool)  # the object's storage is a spool file

    got = s3.get_object(Bucket="s3-large", Key="big.bin")
    assert got["ContentLength"] == len(data) and got["Body"].read() == data
    ranged = s3.get_object(Bucket="s3-large", Key="big.bin", Range="bytes=9437180-9437189")
    assert ranged["ContentRange"] == f"bytes 9437180-9437189/{len(data)}"
    assert ranged["Body"].read() == data[9437180:9437190]
    tail = s3.get_object(Bucket="s3-large", Key="big.bin", Range="bytes=-5")["Body"].read()
    assert tail == data[-5:]

    s3.copy_object(Bucket="s3-large", Key="copy.bin",
                   CopySource={"Bucket": "s3-large", "Key": "big.bin"})
    assert s3.get_object(Bucket="s3-large", Key="copy.bin")["Body"].read() == data

    # Multipart: s3transfer's parts (6 MB, with CRC32 checksums), one copied from a range.
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=6 * MB, multipart_chunksize=6 * MB)
    s3.upload_file(str(source), "s3-large", "multi.bin", Config=config)
    head = s3.head_object(Bucket="s3-large", Key="multi.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-4"')
    back = tmp_path / "back.bin"
    s3.download_file("s3-large", "multi.bin", str(back), Config=config)
    assert back.read_bytes() == data

    upload = s3.create_multipart_upload(Bucket="s3-large", Key="assembled.bin")
    first = s3.upload_part_copy(Bucket="s3-large", Key="assembled.bin", PartNumber=1,
                                UploadId=upload["UploadId"], CopySourceRange="bytes=0-10485759",
                                CopySource={"Bucket": "s3-large", "Key": "big.bin"})
    second = s3.upload_part(Bucket="s3-large", Key="assembled.bin", PartNumber=2,
                            UploadId=upload["UploadId"], Body=b"the end")
    s3.complete_multipart_upload(
        Bucket="s3-large", Key="assembled.bin", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": second["ETag"]}]})
    assembled = s3.get_object(Bucket="s3-large", Key="assembled.bin")["Body"].read()
    assert assembled == data[:10 * MB] + b"the end"

    with pytest.raises(ClientError) as err:  # moto's rules still hold on our path
        upload = s3.create_multipart_upload(Bucket="s3-large", Key="small-parts.bin")
        parts = [s3.upload_part(Bucket="s3-large", Key="small-parts.bin", PartNumber=n,
                                UploadId=upload["UploadId"], Body=b"tiny")
                 for n in (1, 2)]
        s3.complete_multipart_upload(
            Bucket="s3-large", Key="small-parts.bin", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": p["ETag"]}
                                       for n, p in zip((1, 2), parts, strict=True)]})
    assert _error(err) == ("EntityTooSmall", 400)

    s3.delete_object(Bucket="s3-large", Key="big.bin")
    s3.put_object(Bucket="s3-large", Key="copy.bin", Body=b"overwritten")
    assert s3.get_object(Bucket="s3-large", Key="copy.bin")["Body"].read() == b"overwritten"
    # Deleted and overwritten objects release their files; only multi.bin's 20 MB remains.
    assert _server_files(emu.pid, spool).count(len(data)) == 1
