"""Where a command acts: an AWS account and region, or the local emulator.

Every boto3 client resizer uses comes from `Target.client`, which adds our retry settings,
the fault-injection seam and, for S3, the bucket guard (ExpectedBucketOwner on every call to
a bucket of ours).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from resizer_cli import faults
from resizer_cli.bucket_guard import BucketGuard
from resizer_cli.errors import ResizerError, StackNotFound, from_boto
from resizer_cli.naming import Names, aws_domains, partition_for
from resizer_cli.settings import Settings

LOCAL_ACCOUNT = "123456789012"
# Where one custom endpoint for every service comes from, ours first.
_ENDPOINT_SOURCES = ("RESIZER_ENDPOINT_URL", "AWS_ENDPOINT_URL")
_DESCRIBED_SERVICES = ("sts", "s3", "lambda", "iam", "logs")


def _local_session(region: str) -> boto3.Session:
    """A session with the running emulator's own credentials (new at each emulator start)."""
    from resizer_cli.emulator.control import connection

    conn = connection(region)
    if conn is None:
        raise ResizerError("the local emulator is not running",
                           "start it with `resizer local start`")
    return boto3.Session(region_name=region, aws_access_key_id=conn.access_key_id,
                         aws_secret_access_key=conn.secret_access_key)


def _stash_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["resizer_params"] = params  # the same dict: later hooks' additions are seen too


def _inject(model: Any, context: dict[str, Any], **_: Any) -> None:
    service = model.service_model.endpoint_prefix
    faults.check(service, model.name, context.get("resizer_params"))


def _rewrite(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    if isinstance(parsed, dict) and "Error" not in parsed:  # successful answers only
        service = model.service_model.endpoint_prefix
        faults.rewrite(service, model.name, context.get("resizer_params"), parsed)


@dataclass
class Target:
    settings: Settings
    endpoint_url: str | None = None  # set for the local emulator
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _guard: BucketGuard = field(default_factory=BucketGuard, repr=False)

    @property
    def is_local(self) -> bool:
        return self.settings.target == "local"

    @cached_property
    def session(self) -> boto3.Session:
        if self.is_local:
            return _local_session(self.settings.region)
        try:
            return boto3.Session(
                profile_name=self.settings.profile, region_name=self.settings.region
            )
        except BotoCoreError as exc:
            raise from_boto(exc) or ResizerError(str(exc)) from None

    def client(
        self, service: str, *, pool_size: int | None = None, read_timeout: int | None = None
    ) -> Any:
        """A client for `service`; `pool_size` widens its connection pool for parallel work,
        `read_timeout` (s) outlasts a long synchronous call (an Invoke of a slow function)."""
        key = f"{service}:{pool_size or ''}" + (f":{read_timeout}" if read_timeout else "")
        if key not in self._clients:
            client = self._new_client(service, pool_size, read_timeout)
            if service == "s3":
                self._guard.attach(client)
            self._clients[key] = client
        return self._clients[key]

    def unguarded_client(self, service: str) -> Any:
        """A client without the bucket guard: only to tell *why* a guarded call was refused."""
        key = f"{service}:unguarded"
        if key not in self._clients:
            self._clients[key] = self._new_client(service, None)
        return self._clients[key]

    def _new_client(
        self, service: str, pool_size: int | None, read_timeout: int | None = None
    ) -> Any:
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=5 if self.is_local else 10,
            read_timeout=max(120, read_timeout or 0),
            max_pool_connections=pool_size or 10,
        )
        try:
            client = self.session.client(service, endpoint_url=self.endpoint_url, config=config)
        except BotoCoreError as exc:  # e.g. InvalidRegionError for a malformed name
            raise ResizerError(
                f"unknown region {self.settings.region!r}",
                "pass a region such as us-east-1 or eu-west-1 with --region",
            ) from exc
        events = client.meta.events
        events.register("before-parameter-build.*.*", _stash_params)
        events.register("before-call.*.*", _inject)
        events.register("after-call.*.*", _rewrite)
        return client

    @cached_property
    def account_id(self) -> str:
        if self.is_local:
            return LOCAL_ACCOUNT
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except EndpointConnectionError as exc:
            region = self.settings.region
            if partition_for(region) is None:
                # No hard-coded list: a region botocore's partitions do not know is tried,
                # and only refused when nothing answers there.
                url = exc.kwargs.get("endpoint_url")
                raise ResizerError(
                    f"unknown region {region!r}: nothing answers at {url}",
                    "pass a region such as us-east-1 or eu-west-1 with --region",
                ) from None
            raise from_boto(exc, "checking your AWS identity") or ResizerError(str(exc)) from None
        except (BotoCoreError, ClientError) as exc:
            raise from_boto(exc, "checking your AWS identity") or ResizerError(
                f"cannot check your AWS identity: {exc}"
            ) from None

    @property
    def partition(self) -> str:
        return partition_for(self.settings.region) or "aws"

    @property
    def where(self) -> str:
        """Where the stack lives, as messages say it."""
        return "the local emulator" if self.is_local else f"AWS {self.settings.region}"

    def stack_not_found(self) -> StackNotFound:
        return StackNotFound(self.settings.stack, self.where)

    @property
    def function_arn(self) -> str:
        return (f"arn:{self.partition}:lambda:{self.settings.region}:{self.account_id}:"
                f"function:{self.names.function}")

    @property
    def names(self) -> Names:
        names = Names(
            self.settings.stack,
            self.account_id,
            self.settings.region,
            brought_source_bucket=self.settings.source_bucket,
        )
        self._guard.expect(names.dest_bucket, names.account)
        self._guard.expect(names.own_source_bucket, names.account)
        if self.settings.source_bucket:
            self._guard.expect(self.settings.source_bucket, self.source_owner)
        return names

    def expect_bucket_owner(self, bucket: str, owner: str) -> None:
        """Every later S3 call to `bucket` insists that `owner` owns it."""
        self._guard.expect(bucket, owner)

    @property
    def source_owner(self) -> str:
        """The account that must own the source bucket (ours unless told otherwise)."""
        return self.settings.source_bucket_owner or self.account_id

    def custom_endpoints(self) -> dict[str, str]:
        """Services whose requests do not go to AWS, with where they go instead."""
        if self.is_local:
            return {}
        domains = aws_domains(self.partition)
        found: dict[str, str] = {}
        for service in _DESCRIBED_SERVICES:
            url = str(self.client(service).meta.endpoint_url or "")
            host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            if not any(host.endswith("." + domain) for domain in domains):
                found[service] = url
        return found

    def describe(self) -> str:
        if self.is_local:
            return f"local emulator at {self.endpoint_url}, stack {self.settings.stack}"
        where = f"{self.settings.region}, stack {self.settings.stack}"
        custom = self.custom_endpoints()
        if not custom:
            return f"AWS account {self.account_id}, {where}"
        urls = sorted(set(custom.values()))
        if len(urls) == 1 and len(custom) == len(_DESCRIBED_SERVICES):
            at = f"{urls[0]} ({_endpoint_source()})"
        else:
            at = ", ".join(f"{svc} at {url}" for svc, url in sorted(custom.items()))
        return f"not AWS: requests go to {at}; account {self.account_id}, {where}"


def _endpoint_source() -> str:
    for name in _ENDPOINT_SOURCES:
        if os.environ.get(name):
            return name
    return "endpoint_url in the AWS config"


def connect(settings: Settings, *, start_emulator: bool = True) -> Target:
    """Resolve the target. For `local`, find (or start) the emulator and use its endpoint."""
    if settings.target == "local":
        from resizer_cli.emulator.control import endpoint, ensure_running

        url = ensure_running() if start_emulator else endpoint()
        if url is None:
            # The emulator keeps its state in memory: stopped, it holds no stack at all.
            raise StackNotFound(settings.stack, "the local emulator (it is not running)")
        return Target(settings, endpoint_url=url)
    # Environment endpoint overrides (AWS_ENDPOINT_URL) still apply through boto3 itself.
    return Target(settings, endpoint_url=os.environ.get("RESIZER_ENDPOINT_URL") or None)
