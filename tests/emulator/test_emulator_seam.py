"""The moto seam: fails loudly if a moto upgrade moves what the emulator patches."""

from __future__ import annotations

import inspect
import time

from moto.awslambda import models as lambda_models
from moto.core.responses import BaseResponse
from moto.s3 import notifications
from moto.s3 import urls as s3_urls
from moto.s3.models import FakeKey, FakeMultipart, S3Backend
from moto.s3.responses import S3Response

from resizer_cli.emulator import s3store, seam


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def test_moto_seam_is_where_the_patch_expects_it() -> None:
    # The test process never installs the patch, so these are moto's own functions.
    found = {
        "LambdaFunction._invoke_lambda": lambda_models.LambdaFunction._invoke_lambda,
        "LambdaFunction.invoke": lambda_models.LambdaFunction.invoke,
        "notifications._invoke_awslambda": notifications._invoke_awslambda,
        "S3Backend.complete_multipart_upload": S3Backend.complete_multipart_upload,
    }
    for name, func in found.items():
        assert _params(func) == seam.EXPECTED_PARAMETERS[name], (
            f"moto moved the emulator seam {name}: the patch in resizer_cli/emulator/seam.py "
            "must be updated for this moto version"
        )
    # moto's invoke must still delegate execution to _invoke_lambda, and S3 events must still
    # go through _invoke_awslambda, or our runtime would be bypassed.
    assert "self._invoke_lambda(" in inspect.getsource(lambda_models.LambdaFunction.invoke)
    assert "_invoke_awslambda(" in inspect.getsource(notifications.send_event)
    assert "code_bytes" in inspect.getsource(lambda_models.LayerVersion.__init__)
    # The duplicate ObjectCreated:Put we drop comes from completing through put_object.
    assert "self.put_object(" in inspect.getsource(S3Backend.complete_multipart_upload)


def test_moto_s3_internals_are_where_the_disk_patches_expect_them() -> None:
    found = {
        "S3Response.setup_class": S3Response.setup_class,
        "S3Response.key_response": S3Response.key_response,
        "S3Backend.copy_object": S3Backend.copy_object,
        "S3Backend.upload_part_copy": S3Backend.upload_part_copy,
        "FakeMultipart.complete": FakeMultipart.complete,
    }
    for name, func in found.items():
        assert _params(func) == s3store.EXPECTED_PARAMETERS[name], (
            f"moto moved {name}: the patches in resizer_cli/emulator/s3store.py must be "
            "updated for this moto version"
        )
    # An object's bytes live in FakeKey._value_buffer behind the `value` property, set once
    # in __init__; its size is `contentsize` and its ETag is computed lazily from `_etag`.
    assert isinstance(FakeKey.__dict__["value"], property)
    init = inspect.getsource(FakeKey.__init__)
    assert "self._value_buffer = " in init and "self.value = value" in init
    assert init.index("self._etag = etag") < init.index("self.value = value")
    assert "self.contentsize = len(new_value)" in inspect.getsource(FakeKey.__dict__["value"].fset)
    assert "if self._etag is None" in inspect.getsource(FakeKey.__dict__["etag"].fget)
    # Where moto reads bodies and object values: the request body, GetObject, copies, and
    # the multipart join (which our complete() replaces).
    assert "self.body: Any = request.data" in inspect.getsource(BaseResponse.setup_class)
    assert "key.value" in inspect.getsource(S3Response.get_object)
    assert "value=src_key.value" in inspect.getsource(S3Backend.copy_object)
    assert ").value" in inspect.getsource(S3Backend.upload_part_copy)
    assert "multipart.complete(body)" in inspect.getsource(S3Backend.complete_multipart_upload)
    # moto's routes, reloaded on each read, still match keys with ".+" (s3rules widens it).
    assert "reload(" in inspect.getsource(S3Backend.__dict__["_url_module"].fget)
    assert "{0}/(?P<bucket_name_path>[^/]+)/(?P<key_name>.+)" in s3_urls.url_paths


def test_lambda_invoke_through_moto_reaches_our_runtime(emu) -> None:
    code = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    return {'task': os.environ['LAMBDA_TASK_ROOT'], 'first': sys.path[0],\n"
        "            'flags': [sys.flags.isolated, sys.flags.no_site]}\n"
    )
    emu.create_function("seam-sync", code)
    resp, payload = emu.invoke("seam-sync")
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert payload["first"] == payload["task"]
    assert payload["task"].startswith(str(emu.home))  # extracted from the deployed zip
    assert payload["flags"] == [1, 1]


def test_s3_notification_through_moto_is_async_and_reaches_our_runtime(emu) -> None:
    code = (
        "import time, boto3, urllib.parse\n"
        "def handler(event, context):\n"
        "    time.sleep(1.0)\n"
        "    rec = event['Records'][0]['s3']\n"
        "    boto3.client('s3').put_object(Bucket=rec['bucket']['name'],\n"
        "        Key='out/' + urllib.parse.unquote_plus(rec['object']['key']).split('/')[-1],\n"
        "        Body=rec['object']['key'].encode())\n"
    )
    arn = emu.create_function("seam-s3", code)
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="seam-bucket")
    emu.client("lambda").add_permission(
        FunctionName="seam-s3", StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::seam-bucket",
    )
    s3.put_bucket_notification_configuration(
        Bucket="seam-bucket",
        NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
        }]},
    )
    s3.put_object(Bucket="seam-bucket", Key="raw/a b+c.txt", Body=b"x")
    # The PUT returned while the handler still sleeps: the event was queued, not run inline.
    listed = s3.list_objects_v2(Bucket="seam-bucket", Prefix="out/")
    assert listed.get("KeyCount", 0) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket="seam-bucket", Prefix="out/").get("KeyCount"):
            break
        time.sleep(0.1)
    body = s3.get_object(Bucket="seam-bucket", Key="out/a b+c.txt")["Body"].read()
    assert body == b"raw/a+b%2Bc.txt"  # URL-encoded as S3 sends it, slashes kept
    messages = emu.wait_logs("seam-s3", lambda m: any(x.startswith("REPORT") for x in m))
    assert any(m.startswith("START RequestId: ") for m in messages)


def test_a_multipart_upload_invokes_once_as_on_s3(emu) -> None:
    code = (
        "import uuid, boto3\n"
        "def handler(event, context):\n"
        "    rec = event['Records'][0]\n"
        "    boto3.client('s3').put_object(Bucket=rec['s3']['bucket']['name'],\n"
        "        Key='out/' + rec['eventName'] + '/' + uuid.uuid4().hex, Body=b'')\n"
    )
    arn = emu.create_function("seam-mpu", code)
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="mpu-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="mpu-bucket",
        NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
        }]},
    )
    upload = s3.create_multipart_upload(Bucket="mpu-bucket", Key="raw/big.bin")
    part = s3.upload_part(Bucket="mpu-bucket", Key="raw/big.bin", PartNumber=1,
                          UploadId=upload["UploadId"], Body=b"x" * 1024)
    s3.complete_multipart_upload(
        Bucket="mpu-bucket", Key="raw/big.bin", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    emu.wait_logs("seam-mpu", lambda m: any(x.startswith("REPORT") for x in m))
    time.sleep(1.0)  # a second, duplicate invocation would have finished by now
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mpu-bucket", Prefix="out/")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("out/ObjectCreated:CompleteMultipartUpload/")
