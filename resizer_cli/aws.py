"""Where a command acts: an AWS account and region, or the local emulator.

Every boto3 client resizer uses comes from `Target.client`, which adds our retry settings and
the fault-injection seam.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli import faults
from resizer_cli.errors import ResizerError, StackNotFound, from_boto
from resizer_cli.naming import Names
from resizer_cli.settings import Settings

LOCAL_ACCOUNT = "123456789012"


def _local_session(region: str) -> boto3.Session:
    """A session with the running emulator's own credentials (new at each emulator start)."""
    from resizer_cli.emulator.control import connection

    conn = connection(region)
    if conn is None:
        raise ResizerError("the local emulator is not running",
                           "start it with `resizer local start`")
    return boto3.Session(region_name=region, aws_access_key_id=conn.access_key_id,
                         aws_secret_access_key=conn.secret_access_key)


def _inject(model: Any, **_: Any) -> None:
    service = model.service_model.endpoint_prefix
    faults.check(service, model.name)


@dataclass
class Target:
    settings: Settings
    endpoint_url: str | None = None  # set for the local emulator
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

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

    def client(self, service: str, *, pool_size: int | None = None) -> Any:
        """A client for `service`; `pool_size` widens its connection pool for parallel work."""
        key = f"{service}:{pool_size or ''}"
        if key not in self._clients:
            if not self.is_local and self.settings.region not in self.session.get_available_regions(
                "s3"
            ) + self.session.get_available_regions("s3", partition_name="aws-cn"):
                raise ResizerError(
                    f"unknown region {self.settings.region!r}",
                    "pass a region such as us-east-1 or eu-west-1 with --region",
                )
            config = botocore.config.Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=5 if self.is_local else 10,
                read_timeout=120,
                max_pool_connections=pool_size or 10,
            )
            client = self.session.client(service, endpoint_url=self.endpoint_url, config=config)
            client.meta.events.register("before-call.*.*", _inject)
            self._clients[key] = client
        return self._clients[key]

    @cached_property
    def account_id(self) -> str:
        if self.is_local:
            return LOCAL_ACCOUNT
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as exc:
            raise from_boto(exc, "checking your AWS identity") or ResizerError(
                f"cannot check your AWS identity: {exc}"
            ) from None

    @property
    def names(self) -> Names:
        return Names(
            self.settings.stack,
            self.account_id,
            self.settings.region,
            brought_source_bucket=self.settings.source_bucket,
        )

    def describe(self) -> str:
        if self.is_local:
            return f"local emulator at {self.endpoint_url}, stack {self.settings.stack}"
        return f"AWS account {self.account_id}, {self.settings.region}, stack {self.settings.stack}"


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
