"""Read what exists for a stack, with Get/List/Describe/Head calls only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.bucket_guard import default_rule
from resizer_cli.deploy import async_invoke, notifications
from resizer_cli.deploy.desired import layer_marker
from resizer_cli.deploy.retries import call
from resizer_cli.errors import ResizerError, error_code
from resizer_cli.naming import TAG_KEY

if TYPE_CHECKING:
    from resizer_cli.deploy.inventory_api import ApiInventory

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
_DENIED = ("403", "AccessDenied", "Forbidden")


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
    region: str | None = None  # read for a brought bucket: S3 only notifies its own region
    encryption: dict[str, Any] = field(default_factory=dict)  # its default-encryption rule
    kms_key_arn: str | None = None  # the customer-managed key of that rule, resolved

    @property
    def tagged(self) -> bool:
        return TAG_KEY in self.tags


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
    ours: bool = True


@dataclass
class FunctionState:
    arn: str
    config: dict[str, Any]
    tags: dict[str, str]
    reserved_concurrency: int | None = None  # None: no reservation (read_inventory reads it)

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
    permissions: list[dict[str, Any]]  # our statements in the function's resource policy
    foreign_layers: list[LayerVersion] = field(default_factory=list)
    api: ApiInventory | None = None  # read by inventory_api (stack.inventory_for)
    event_invoke: dict[str, Any] | None = None  # its asynchronous invocation settings

    @property
    def anything(self) -> bool:
        return bool(
            (self.source.exists and self.source.tags)
            or self.dest.exists
            or self.log_group
            or self.role
            or self.layers
            or self.function
            or (self.api and self.api.ours)
        )


def _head(target: Target, name: str) -> dict[str, Any] | None:
    """HeadBucket with ExpectedBucketOwner (added by the bucket guard); None: no bucket."""
    s3 = target.client("s3")
    try:
        return dict(call(lambda: s3.head_bucket(Bucket=name)))
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise


def _owned_elsewhere(target: Target, name: str) -> bool:
    """After a 403: does the bucket answer when we do not insist on its owner?"""
    try:
        call(lambda: target.unguarded_client("s3").head_bucket(Bucket=name))
    except ClientError:
        return False
    return True


def read_bucket(
    target: Target, name: str, *, ours: bool, owner: str | None = None, details: bool = True
) -> BucketState:
    """What we need to know of a bucket. For a brought one (`ours` False) that is its
    notification configuration, and with `details` its region and encryption too."""
    s3 = target.client("s3")
    state = BucketState(name)
    try:
        head = _head(target, name)
    except ClientError as exc:
        if error_code(exc) not in _DENIED:
            raise
        elsewhere = _owned_elsewhere(target, name)
        if ours:
            raise ResizerError(
                f"the bucket name {name} is taken by another AWS account",
                "choose another --stack name, or bring your own bucket with --source-bucket",
            ) from None
        if elsewhere:
            raise ResizerError(
                f"bucket {name} is not owned by account {owner or target.account_id}",
                "if another account owns it on purpose, pass --source-bucket-owner ACCOUNT_ID",
            ) from None
        raise ResizerError(
            f"cannot access bucket {name}", "check that it exists and that you may use it"
        ) from None
    if head is None:
        return state
    state.exists = True
    config = _get(s3.get_bucket_notification_configuration, Bucket=name)
    state.notification = notifications.clean(config)
    if not ours:  # a brought bucket: we only ever touch its notification entry
        if details:
            state.region = _bucket_region(target, name, head)
            state.encryption = _encryption(target, name, tolerant=True)
            state.kms_key_arn = _customer_key(target, state.encryption)
        return state
    state.encryption = _encryption(target, name, tolerant=False)
    state.encrypted = bool(state.encryption)
    tagging = _get(s3.get_bucket_tagging, Bucket=name)
    state.tags = {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}
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


def _encryption(target: Target, name: str, *, tolerant: bool) -> dict[str, Any]:
    """The bucket's default-encryption rule; for a brought bucket we may not read, {}."""
    s3 = target.client("s3")
    try:
        enc = _get(s3.get_bucket_encryption, Bucket=name)
    except ClientError as exc:
        if tolerant and error_code(exc) in _DENIED:
            return {}
        raise
    return default_rule((enc or {}).get("ServerSideEncryptionConfiguration", {}))


def _bucket_region(target: Target, name: str, head: dict[str, Any]) -> str | None:
    headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region = head.get("BucketRegion") or headers.get("x-amz-bucket-region")
    if region:
        return str(region)
    try:
        loc = call(lambda: target.client("s3").get_bucket_location(Bucket=name))
    except ClientError:
        return None  # not allowed to ask: S3 will say so when the notification is written
    # LocationConstraint: empty for us-east-1, and the legacy "EU" for eu-west-1.
    constraint = loc.get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if constraint == "EU" else str(constraint)


def _customer_key(target: Target, rule: dict[str, Any]) -> str | None:
    """The ARN of a bucket's customer-managed KMS key; None for SSE-S3 or the AWS-managed key.

    The AWS-managed aws/s3 key lets any principal of its account decrypt through S3; a
    customer-managed key needs kms:Decrypt in the reader's own policy.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
    """
    if not str(rule.get("SSEAlgorithm", "")).startswith("aws:kms"):
        return None
    key = str(rule.get("KMSMasterKeyID") or "")
    if not key or key in ("alias/aws/s3",) or key.endswith(":alias/aws/s3"):
        return None
    if key.startswith("arn:") and ":key/" in key:
        return key
    try:  # a key id or an alias: IAM needs the key's ARN
        meta = call(lambda: target.client("kms").describe_key(KeyId=key))["KeyMetadata"]
    except (ClientError, BotoCoreError) as exc:
        raise ResizerError(
            f"the source bucket encrypts with KMS key {key}, whose ARN resizer cannot read "
            f"({error_code(exc) or type(exc).__name__})",
            "grant kms:DescribeKey on that key to your identity, or set the bucket's default "
            "encryption to the key's ARN",
        ) from None
    if meta.get("KeyManager") == "AWS":
        return None
    return str(meta["Arn"])


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


def read_layer_versions(
    target: Target, layer_name: str, stack: str
) -> tuple[list[LayerVersion], list[LayerVersion]]:
    """(ours, foreign): the versions under our layer name, oldest first. Ours are the ones
    whose description carries our marker (layers cannot be tagged)."""
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
            m = _SHA_RE.search(desc)
            out.append(
                LayerVersion(
                    int(v["Version"]),
                    v["LayerVersionArn"],
                    m.group(1) if m else None,
                    desc,
                    ours=desc.startswith(layer_marker(stack)),
                )
            )
        marker = resp.get("NextMarker")
        if not marker:
            break
    out.sort(key=lambda v: v.version)
    return [v for v in out if v.ours], [v for v in out if not v.ours]


def read_layers(target: Target, layer_name: str, stack: str) -> list[LayerVersion]:
    """Our published versions, oldest first."""
    return read_layer_versions(target, layer_name, stack)[0]


def read_function(target: Target, name: str) -> FunctionState | None:
    lam = target.client("lambda")
    config = _get(lam.get_function_configuration, FunctionName=name)
    if config is None:
        return None
    config = {k: v for k, v in config.items() if k != "ResponseMetadata"}
    tags = _get(lam.list_tags, Resource=config["FunctionArn"]) or {}
    return FunctionState(config["FunctionArn"], config, dict(tags.get("Tags", {})))


def read_reserved_concurrency(target: Target, name: str) -> int | None:
    """The function's reserved concurrency (GetFunctionConcurrency); None when it has none."""
    resp = _get(target.client("lambda").get_function_concurrency, FunctionName=name) or {}
    value = resp.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def read_permissions(target: Target, function: str, prefix: str) -> list[dict[str, Any]]:
    """Our statements (Sid starting with `prefix`) in the function's resource policy."""
    resp = _get(target.client("lambda").get_policy, FunctionName=function)
    if resp is None:
        return []
    return [
        dict(stmt)
        for stmt in json.loads(resp["Policy"]).get("Statement", [])
        if str(stmt.get("Sid", "")).startswith(prefix)
    ]


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
    permission_prefix: str,
    source_owner: str | None = None,
) -> Inventory:
    fn = read_function(target, function)
    if fn is not None:
        fn.reserved_concurrency = read_reserved_concurrency(target, function)
    layers, foreign_layers = read_layer_versions(target, layer_name, stack)
    return Inventory(
        source=read_bucket(target, source_bucket, ours=owns_source_bucket, owner=source_owner),
        dest=read_bucket(target, dest_bucket, ours=True),
        log_group=read_log_group(target, log_group),
        role=read_role(target, role),
        layers=layers,
        function=fn,
        permissions=read_permissions(target, function, permission_prefix) if fn else [],
        foreign_layers=foreign_layers,
        event_invoke=call(lambda: async_invoke.read(target, function)) if fn else None,
    )
