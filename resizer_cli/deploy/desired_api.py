"""What a stack's HTTP API should look like (`setup --api`), computed from its settings.

An API Gateway HTTP API (apigatewayv2) named `<stack>-thumbnailer-api`: a Lambda proxy
integration (AWS_PROXY, payload 2.0) to the stack's function, one route `GET /{proxy+}`,
the `$default` stage with auto-deploy, and an invoke permission for apigateway.amazonaws.com
whose SourceArn is that API's route. The function learns where originals are, which extra
sizes it serves, and the URL secret from its environment; the role may also read renditions.

The secret is the one thing not derived from the settings: `settle` keeps the deployed one
(so signed URLs stay valid across runs) and makes one only when there is none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambda_handler.web.config import SECRET_VAR
from resizer_cli.naming import TAG_KEY, Names, partition_for
from resizer_cli.settings import Settings, format_sizes

if TYPE_CHECKING:
    from resizer_cli.deploy.desired import Desired
    from resizer_cli.deploy.inventory import Inventory

ROUTE_KEY = "GET /{proxy+}"
STAGE = "$default"
PAYLOAD_VERSION = "2.0"
INTEGRATION_TYPE = "AWS_PROXY"
TIMEOUT_MS = 30_000  # HTTP APIs allow at most 30 s
PRINCIPAL = "apigateway.amazonaws.com"


def api_name(stack: str) -> str:
    return f"{stack}-thumbnailer-api"


def permission_prefix(stack: str) -> str:
    return f"{stack}-api-invoke"


@dataclass(frozen=True)
class DesiredApi:
    name: str
    stack: str
    partition: str
    region: str
    account: str
    function_arn: str
    signed: bool
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def permission_prefix(self) -> str:
        return permission_prefix(self.stack)

    def source_arn(self, api_id: str) -> str:
        """What the invoke permission allows: this API's route, in any stage."""
        verb, _, path = ROUTE_KEY.partition(" ")
        return (f"arn:{self.partition}:execute-api:{self.region}:{self.account}:"
                f"{api_id}/*/{verb}{path}")

    def permission_sid(self, api_id: str) -> str:
        # As for the S3 grant, the Sid names its content: a new API is a new statement.
        digest = hashlib.sha256(self.source_arn(api_id).encode()).hexdigest()[:10]
        return f"{self.permission_prefix}-{digest}"


def build(settings: Settings, names: Names) -> DesiredApi | None:
    if not settings.api:
        return None
    partition = partition_for(names.region) or "aws"
    return DesiredApi(
        name=api_name(names.stack),
        stack=names.stack,
        partition=partition,
        region=names.region,
        account=names.account,
        function_arn=(f"arn:{partition}:lambda:{names.region}:{names.account}:function:"
                      f"{names.function}"),
        signed=not settings.api_unsigned,
        tags={TAG_KEY: names.stack},
    )


def environment(settings: Settings, names: Names) -> dict[str, str]:
    """The function's variables for HTTP requests (none without --api: the env stays as is)."""
    if not settings.api:
        return {}
    env = {"SOURCE_BUCKET": names.source_bucket}
    if settings.api_sizes:
        env["API_SIZES"] = format_sizes(settings.api_sizes)
    if settings.api_unsigned:
        env["API_UNSIGNED"] = "true"
    return env


def role_statements(d: Desired) -> list[dict[str, Any]]:
    """Reading renditions back (and seeing that one is missing: 404, not 403)."""
    resource_account = {"StringEquals": {"aws:ResourceAccount": d.account}}
    return [
        {
            "Sid": "ReadRenditions",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:{d.partition}:s3:::{d.dest_bucket}/{d.dest_prefix}*"],
            "Condition": resource_account,
        },
        {
            "Sid": "SeeMissingRenditions",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:{d.partition}:s3:::{d.dest_bucket}"],
            "Condition": {**resource_account,
                          "StringLike": {"s3:prefix": [f"{d.dest_prefix}*"]}},
        },
    ]


def settle(d: Desired, inv: Inventory) -> Desired:
    """The desired state with the URL secret: the deployed one, else a new one."""
    if d.api is None or not d.api.signed:
        return d
    deployed = ""
    if inv.function is not None:
        env = (inv.function.config.get("Environment") or {}).get("Variables") or {}
        deployed = str(env.get(SECRET_VAR, ""))
    secret = deployed or secrets.token_urlsafe(32)
    return dataclasses.replace(d, environment={**d.environment, SECRET_VAR: secret})
