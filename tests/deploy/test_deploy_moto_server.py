"""`--target aws` end to end through the installed command, against a plain moto server.

One stack name in two regions, side by side, torn down one region at a time. Requests go
to the server through AWS_ENDPOINT_URL, as they would to any AWS-compatible endpoint, and
the first line of every command says so.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

STACK = "twin"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with socket.socket() as sock:  # a free port on loopback
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _client(url: str, service: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_one_stack_in_two_regions_torn_down_one_at_a_time(
    moto_server: str, run_resizer: Any
) -> None:
    # python3.12: the layer the layer tests build too (the session's wheel cache is shared).
    env = {"AWS_ENDPOINT_URL": moto_server, "RESIZER_RETRY_SCALE": "0",
           "RESIZER_RUNTIME": "python3.12"}

    def resizer(*args: str, check: bool = True) -> Any:
        return run_resizer(*args, "--target", "aws", "--stack", STACK, env=env, check=check,
                           timeout=600)

    for region in REGIONS:
        proc = resizer("setup", "--region", region, "--json")
        doc = json.loads(proc.stdout)
        assert doc["changed"] and doc["resources"]["role"] == f"{STACK}-thumbnailer-{region}"
        human = resizer("status", "--region", region)
        # (Compared without line breaks: wrapping of non-terminal output is not ours to test.)
        assert " ".join(human.stderr.split()).startswith(
            f"→ not AWS: requests go to {moto_server} (AWS_ENDPOINT_URL); "
            f"account 123456789012, {region}, stack {STACK}"
        )

    iam = _client(moto_server, "iam", "us-east-1")
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert {f"{STACK}-thumbnailer-{r}" for r in REGIONS} <= roles
    for region in REGIONS:  # neither setup undid the other
        status = json.loads(resizer("status", "--region", region, "--json").stdout)
        assert status["in_sync"], status["drift"]

    resizer("teardown", "--region", "us-east-1", "--yes")
    s3 = _client(moto_server, "s3", "us-east-1")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not any(b.endswith("-us-east-1") for b in buckets)
    assert any(b.endswith("-eu-west-1") for b in buckets)
    gone = resizer("status", "--region", "us-east-1", check=False)
    assert gone.returncode == 3 and "no stack 'twin' is deployed on AWS us-east-1" in gone.stderr
    west = json.loads(resizer("status", "--region", "eu-west-1", "--json").stdout)
    assert west["in_sync"] and west["resources"]["role"]["exists"], west
    again = json.loads(resizer("setup", "--region", "eu-west-1", "--json").stdout)
    assert again["actions"] == []

    resizer("teardown", "--region", "eu-west-1", "--yes")
    assert not any(r["RoleName"].startswith(f"{STACK}-")
                   for r in iam.list_roles()["Roles"])
    assert not {b["Name"] for b in s3.list_buckets()["Buckets"]} & buckets
    for region in REGIONS:
        lam = _client(moto_server, "lambda", region)
        assert not any(f["FunctionName"].startswith(STACK) for f in
                       lam.list_functions()["Functions"])
