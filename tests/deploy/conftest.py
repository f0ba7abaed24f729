"""Fixtures for the deploy engine: moto in-process, tiny deterministic artifacts, call counting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from resizer_cli import retry, ziputil
from resizer_cli.aws import Target
from resizer_cli.deploy import stack as stack_mod
from resizer_cli.deploy.bundle import Artifact, build_handler_bundle
from resizer_cli.deploy.stack import Sources, setup_stack
from resizer_cli.output import Reporter
from resizer_cli.settings import Settings, parse_sizes

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Filter")
SERVICES = ("s3", "iam", "lambda", "logs", "sts")


class Calls:
    """Every API call made through a Target's clients (a botocore before-call hook)."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, str]] = []

    def attach(self, target: Target) -> Target:
        for svc in SERVICES:
            target.client(svc).meta.events.register("before-call.*.*", self._hook)
        return target

    def _hook(self, model: Any, **_: Any) -> None:
        self.ops.append((model.service_model.endpoint_prefix, model.name))

    @property
    def mutating(self) -> list[str]:
        return [op for _, op in self.ops if not op.startswith(READ_PREFIXES)]

    def clear(self) -> None:
        self.ops.clear()


class Kit:
    """Artifacts a test can change: the handler source and the layer content."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.handler_dir = root / "handler-src"
        self.handler_dir.mkdir()
        (self.handler_dir / "__init__.py").write_text("")
        (self.handler_dir / "handler.py").write_text("def handler(event, context):\n    return 1\n")
        self.layer_version = "1"
        self.layers_built: list[str] = []

    def code(self, settings: Settings | None = None) -> Artifact:
        return build_handler_bundle(self.handler_dir, self.root / "handler.zip")

    def layer(self, settings: Settings) -> Artifact:
        arch = stack_mod.effective_architecture(settings)
        src = self.root / f"pil-{arch}-{self.layer_version}.py"
        src.write_text(f"# fake Pillow {self.layer_version} for {arch}\n")
        out = self.root / f"layer-{arch}-{self.layer_version}.zip"
        sha = ziputil.write_zip([("python/PIL/__init__.py", src)], out)
        self.layers_built.append(sha)
        return Artifact(out, sha)

    @property
    def sources(self) -> Sources:
        return Sources(code=self.code, layer=self.layer)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry sleeps go through resizer_cli.retry.sleep; record them instead of waiting."""
    seen: list[float] = []
    monkeypatch.setattr(retry, "sleep", seen.append)
    return seen


@pytest.fixture
def aws(sleeps: list[float]) -> Iterator[None]:
    with mock_aws():
        yield


def make_settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"target": "aws", "region": "us-east-1"}
    base.update(kw)
    if isinstance(base.get("sizes"), str):
        base["sizes"] = parse_sizes(base["sizes"])
    return Settings(**base).validate()


@pytest.fixture
def target_factory() -> Callable[..., tuple[Target, Calls]]:
    def make(**kw: Any) -> tuple[Target, Calls]:
        calls = Calls()
        return calls.attach(Target(make_settings(**kw))), calls

    return make


@pytest.fixture
def deploy(kit: Kit) -> Callable[..., Any]:
    def run(target: Target, **kw: Any) -> Any:
        return setup_stack(target, Reporter.silent(), sources=kit.sources, **kw)

    return run


@pytest.fixture
def snap() -> Callable[[Target], dict[str, Any]]:
    return snapshot


def snapshot(target: Target) -> dict[str, Any]:
    """The deployed state, without timestamps and request ids, for comparing two deploys."""
    n = target.names
    s3, lam, iam, logs = (target.client(s) for s in ("s3", "lambda", "iam", "logs"))
    out: dict[str, Any] = {"buckets": {}}
    for b in sorted(x["Name"] for x in s3.list_buckets()["Buckets"]):
        entry: dict[str, Any] = {}
        try:
            entry["tags"] = s3.get_bucket_tagging(Bucket=b)["TagSet"]
        except s3.exceptions.ClientError:
            entry["tags"] = None
        try:
            entry["pab"] = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            entry["pab"] = None
        try:
            entry["enc"] = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]
        except s3.exceptions.ClientError:
            entry["enc"] = None
        conf = s3.get_bucket_notification_configuration(Bucket=b)
        conf.pop("ResponseMetadata", None)
        entry["notification"] = conf
        out["buckets"][b] = entry
    fns = lam.list_functions()["Functions"]
    out["functions"] = {}
    for f in fns:
        keep = ("Runtime", "Handler", "MemorySize", "Timeout", "Role", "CodeSha256")
        cfg = {k: f.get(k) for k in keep}
        cfg["Env"] = f.get("Environment", {}).get("Variables")
        cfg["Layers"] = [x["Arn"] for x in f.get("Layers", [])]
        cfg["Arch"] = f.get("Architectures")
        cfg["Tags"] = lam.list_tags(Resource=f["FunctionArn"])["Tags"]
        try:
            pol = json.loads(lam.get_policy(FunctionName=f["FunctionName"])["Policy"])
            cfg["Policy"] = pol["Statement"]
        except lam.exceptions.ResourceNotFoundException:
            cfg["Policy"] = None
        out["functions"][f["FunctionName"]] = cfg
    out["layers"] = [
        (v["Version"], v["Description"])
        for v in lam.list_layer_versions(LayerName=n.layer)["LayerVersions"]
    ]
    out["roles"] = {}
    for r in iam.list_roles()["Roles"]:
        name = r["RoleName"]
        pols = iam.list_role_policies(RoleName=name)["PolicyNames"]
        out["roles"][name] = {
            "trust": r["AssumeRolePolicyDocument"],
            "policies": {
                p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"] for p in pols
            },
            "attached": iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"],
            "tags": iam.list_role_tags(RoleName=name)["Tags"],
        }
    out["log_groups"] = {
        g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]
    }
    return out
