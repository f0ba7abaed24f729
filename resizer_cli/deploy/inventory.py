"""Read what exists for a stack, with Get/List/Describe/Head calls only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy import notifications
from resizer_cli.deploy.desired import layer_marker
from resizer_cli.deploy.retries import call
from resizer_cli.errors import ResizerError, error_code

_NOT_FOUND = {
    "404",
    "NoSuchBucket",
    "NotFound",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NoSuchTagSet",
    "NoSuchTagSetError",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
}
_SHA_RE = re.compile(r"sha256:([0-9a-f]{64})")


def _get(fn: Any, **kwargs: Any) -> Any:
    """The call's result, or None when the thing does not exist."""
    try:
        return call(lambda: fn(**kwargs))
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise


@dataclass
class BucketState:
    name: str
    exists: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    encrypted: bool = False
    public_access_blocked: bool = False
    notification: dict[str, Any] = field(default_factory=dict)


@dataclass
class LogGroupState:
    name: str
    retention_days: int | None
    tags: dict[str, str]


@dataclass
class RoleState:
    name: str
    arn: str
    trust_policy: dict[str, Any]
    tags: dict[str, str]
    inline_policies: dict[str, dict[str, Any]]
    attached_policies: list[str]


@dataclass
class LayerVersion:
    version: int
    arn: str
    sha256: str | None
    description: str


@dataclass
class FunctionState:
    arn: str
    config: dict[str, Any]
    tags: dict[str, str]

    @property
    def layers(self) -> list[str]:
        return [layer["Arn"] for layer in self.config.get("Layers", [])]


@dataclass
class Inventory:
    source: BucketState
    dest: BucketState
    log_group: LogGroupState | None
    role: RoleState | None
    layers: list[LayerVersion]
    function: FunctionState | None
    permission: dict[str, Any] | None  # our statement in the function's resource policy

    @property
    def anything(self) -> bool:
        return bool(
            (self.source.exists and self.source.tags)
            or self.dest.exists
            or self.log_group
            or self.role
            or self.layers
            or self.function
        )


def read_bucket(target: Target, name: str, *, ours: bool) -> BucketState:
    s3 = target.client("s3")
    state = BucketState(name)
    try:
        call(lambda: s3.head_bucket(Bucket=name))
    except ClientError as exc:
        code = error_code(exc)
        if code in _NOT_FOUND:
            return state
        if code in ("403", "AccessDenied", "Forbidden"):
            if ours:
                raise ResizerError(
                    f"the bucket name {name} is taken by another AWS account",
                    "choose another --stack name, or bring your own bucket with --source-bucket",
                ) from None
            raise ResizerError(
                f"cannot access bucket {name}", "check that it exists and that you may use it"
            ) from None
        raise
    state.exists = True
    config = _get(s3.get_bucket_notification_configuration, Bucket=name)
    state.notification = notifications.clean(config)
    if not ours:
        return state  # a brought bucket: we only ever touch its notification entry
    tagging = _get(s3.get_bucket_tagging, Bucket=name)
    state.tags = {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}
    enc = _get(s3.get_bucket_encryption, Bucket=name)
    state.encrypted = bool((enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules"))
    pab = _get(s3.get_public_access_block, Bucket=name)
    conf = (pab or {}).get("PublicAccessBlockConfiguration", {})
    state.public_access_blocked = bool(conf) and all(
        conf.get(k)
        for k in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
    )
    return state


def read_log_group(target: Target, name: str) -> LogGroupState | None:
    logs = target.client("logs")
    resp = _get(logs.describe_log_groups, logGroupNamePrefix=name)
    for group in (resp or {}).get("logGroups", []):
        if group["logGroupName"] != name:
            continue
        arn = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
        tags = _get(logs.list_tags_for_resource, resourceArn=arn) or {}
        return LogGroupState(name, group.get("retentionInDays"), dict(tags.get("tags", {})))
    return None


def read_role(target: Target, name: str) -> RoleState | None:
    iam = target.client("iam")
    resp = _get(iam.get_role, RoleName=name)
    if resp is None:
        return None
    role = resp["Role"]
    tags = _get(iam.list_role_tags, RoleName=name) or {}
    inline: dict[str, dict[str, Any]] = {}
    for pname in (_get(iam.list_role_policies, RoleName=name) or {}).get("PolicyNames", []):
        doc = _get(iam.get_role_policy, RoleName=name, PolicyName=pname)
        if doc is not None:
            inline[pname] = _as_doc(doc["PolicyDocument"])
    attached = _get(iam.list_attached_role_policies, RoleName=name) or {}
    return RoleState(
        name=name,
        arn=role["Arn"],
        trust_policy=_as_doc(role.get("AssumeRolePolicyDocument", {})),
        tags={t["Key"]: t["Value"] for t in tags.get("Tags", [])},
        inline_policies=inline,
        attached_policies=[p["PolicyArn"] for p in attached.get("AttachedPolicies", [])],
    )


def _as_doc(doc: Any) -> dict[str, Any]:
    if isinstance(doc, str):
        from urllib.parse import unquote

        return dict(json.loads(unquote(doc)))
    return dict(doc)


def read_layers(target: Target, layer_name: str, stack: str) -> list[LayerVersion]:
    """Our published versions (identified by name + description marker), oldest first."""
    lam = target.client("lambda")
    out: list[LayerVersion] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"LayerName": layer_name}
        if marker:
            kwargs["Marker"] = marker
        resp = _get(lam.list_layer_versions, **kwargs) or {}
        for v in resp.get("LayerVersions", []):
            desc = v.get("Description", "") or ""
            if not desc.startswith(layer_marker(stack)):
                continue
            m = _SHA_RE.search(desc)
            out.append(
                LayerVersion(
                    int(v["Version"]), v["LayerVersionArn"], m.group(1) if m else None, desc
                )
            )
        marker = resp.get("NextMarker")
        if not marker:
            break
    return sorted(out, key=lambda v: v.version)


def read_function(target: Target, name: str) -> FunctionState | None:
    lam = target.client("lambda")
    config = _get(lam.get_function_configuration, FunctionName=name)
    if config is None:
        return None
    config = {k: v for k, v in config.items() if k != "ResponseMetadata"}
    tags = _get(lam.list_tags, Resource=config["FunctionArn"]) or {}
    return FunctionState(config["FunctionArn"], config, dict(tags.get("Tags", {})))


def read_permission(target: Target, function: str, sid: str) -> dict[str, Any] | None:
    resp = _get(target.client("lambda").get_policy, FunctionName=function)
    if resp is None:
        return None
    for stmt in json.loads(resp["Policy"]).get("Statement", []):
        if stmt.get("Sid") == sid:
            return dict(stmt)
    return None


def read_inventory(
    target: Target,
    *,
    stack: str,
    source_bucket: str,
    owns_source_bucket: bool,
    dest_bucket: str,
    log_group: str,
    role: str,
    layer_name: str,
    function: str,
    permission_sid: str,
) -> Inventory:
    fn = read_function(target, function)
    return Inventory(
        source=read_bucket(target, source_bucket, ours=owns_source_bucket),
        dest=read_bucket(target, dest_bucket, ours=True),
        log_group=read_log_group(target, log_group),
        role=read_role(target, role),
        layers=read_layers(target, layer_name, stack),
        function=fn,
        permission=read_permission(target, function, permission_sid) if fn else None,
    )
