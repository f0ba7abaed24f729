"""`setup` as one call: build the artifacts, read what exists, plan, then apply.

Artifact sources are injectable (tests pass tiny deterministic zips); by default the handler
bundle comes from the installed `lambda_handler` package and the layer from `resizer_cli.layer`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli import bytecode
from resizer_cli.aws import Target
from resizer_cli.deploy import desired_api, inventory_api
from resizer_cli.deploy.apply import Applier, translate
from resizer_cli.deploy.bundle import Artifact, build_handler_bundle
from resizer_cli.deploy.desired import (
    SOURCE_BUCKET_TAG,
    SOURCE_OWNER_TAG,
    Desired,
    desired_state,
)
from resizer_cli.deploy.inventory import Inventory, read_function, read_inventory, read_role
from resizer_cli.deploy.lock import stack_lock
from resizer_cli.deploy.plan import Action, Plan, plan
from resizer_cli.errors import error_code
from resizer_cli.output import Reporter
from resizer_cli.settings import Settings


class ZipArtifact(Protocol):
    @property
    def path(self) -> Any: ...

    @property
    def sha256(self) -> str: ...


CodeProvider = Callable[[Settings], ZipArtifact]
LayerProvider = Callable[[Settings], ZipArtifact]


def effective_architecture(settings: Settings) -> str:
    """The emulator runs layers on this machine, so a local stack uses the host's."""
    if settings.target != "local":
        return settings.architecture
    from resizer_cli.layer import host_architecture

    return host_architecture()


def real_layer(reporter: Reporter | None = None) -> LayerProvider:
    def provide(settings: Settings) -> ZipArtifact:
        from resizer_cli.layer import build_layer

        return build_layer(
            settings.effective_runtime,
            effective_architecture(settings),
            reporter=reporter,
            local=settings.target == "local",
            heic=settings.heic,
        )

    return provide


def real_code(settings: Settings) -> ZipArtifact:
    """The handler bundle, with bytecode for the function's runtime (resizer_cli.bytecode)."""
    version = settings.effective_runtime.removeprefix("python")
    return build_handler_bundle(python_version=version)


@dataclass
class Sources:
    code: CodeProvider = real_code
    layer: LayerProvider | None = None  # None: the real layer builder


@dataclass
class SetupResult:
    stack: str
    target: str
    actions: list[Action]
    changed: bool
    dry_run: bool
    resources: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "actions": [a.to_json() for a in self.actions],
            "resources": self.resources,
        }


def inventory_for(target: Target, d: Desired) -> Inventory:
    try:
        inventory = read_inventory(
            target,
            stack=d.stack,
            source_bucket=d.source_bucket,
            owns_source_bucket=d.owns_source_bucket,
            dest_bucket=d.dest_bucket,
            log_group=d.log_group,
            role=d.role,
            layer_name=d.layer_name,
            function=d.function,
            permission_prefix=d.permission_prefix,
            source_owner=d.source_owner,
        )
        inventory.api = inventory_api.read(target, d.stack, d.function, wanted=d.api is not None,
                                           function_exists=inventory.function is not None)
        return inventory
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading the stack") from None


def resources_of(d: Desired, layer_arn: str | None) -> dict[str, Any]:
    return {
        "source_bucket": d.source_bucket,
        "source_bucket_owned": d.owns_source_bucket,
        "dest_bucket": d.dest_bucket,
        "function": d.function,
        "function_arn": d.function_arn,
        "role": d.role,
        "log_group": d.log_group,
        "layer": layer_arn,
        "runtime": d.runtime,
        "architecture": d.architecture,
    }


def default_sources() -> Sources:
    """Where the CLI gets its artifacts (a seam: tests substitute tiny zips)."""
    return Sources()


def compute_plan(
    target: Target,
    reporter: Reporter,
    sources: Sources | None = None,
    adopt: tuple[str, ...] = (),
) -> tuple[Desired, Plan]:
    """Build the artifacts locally (nothing remote), read the stack and plan the difference."""
    sources = sources or default_sources()
    settings = target.settings
    with reporter.step("bundle handler code") as step:
        code = sources.code(settings)
        version = settings.effective_runtime.removeprefix("python")
        bare = "" if bytecode.interpreter_for(version) else (
            f"; sources only (no python{version} here to compile bytecode)"
        )
        step.note(f"sha256 {code.sha256[:12]}{bare}")
    # The real builder reports its own steps (cache hit, downloads, verification).
    layer = (sources.layer or real_layer(reporter))(settings)
    desired = desired_state(
        settings,
        target.names,
        architecture=effective_architecture(settings),
        code_sha256=code.sha256,
        code_path=code.path,
        layer_sha256=layer.sha256,
        layer_path=layer.path,
    )
    with reporter.step("read what exists") as step:
        inventory = inventory_for(target, desired)
        desired = desired_api.settle(desired, inventory)
        the_plan = plan(desired, inventory, adopt)
        step.note(f"{len(the_plan.actions)} change(s) needed")
    return desired, the_plan


def setup_stack(
    target: Target,
    reporter: Reporter,
    *,
    dry_run: bool = False,
    sources: Sources | None = None,
    adopt: tuple[str, ...] = (),
) -> SetupResult:
    if dry_run:
        return _setup(target, reporter, dry_run=True, sources=sources, adopt=adopt)
    with stack_lock(target.settings.stack, lock_scope(target), "setup"):
        return _setup(target, reporter, dry_run=False, sources=sources, adopt=adopt)


def lock_scope(target: Target) -> str:
    """Where a stack lives: two regions (or accounts) of one stack name never share a lock."""
    return f"{target.settings.target}-{target.account_id}-{target.settings.region}"


def _setup(
    target: Target,
    reporter: Reporter,
    *,
    dry_run: bool,
    sources: Sources | None,
    adopt: tuple[str, ...],
) -> SetupResult:
    desired, the_plan = compute_plan(target, reporter, sources, adopt)
    result = SetupResult(
        stack=desired.stack,
        target=target.settings.target,
        actions=the_plan.actions,
        changed=False,
        dry_run=dry_run,
        resources=resources_of(desired, the_plan.layer_arn),
    )
    if the_plan.empty:
        reporter.info("Nothing to do: stack is up to date")
        return result
    if dry_run:
        reporter.info("Plan (dry run, nothing changed):")
        for action in the_plan.actions:
            reporter.info(f"  • {action.title} ", detail=action.detail)
        return result
    applier = Applier(target, desired, the_plan, reporter)
    applier.run()
    result.changed = True
    result.resources = resources_of(desired, applier.layer_arn)
    return result


def stack_tags(target: Target) -> dict[str, str]:
    """The tags setup put on the function (or, if it is gone, the role)."""
    names = target.names
    try:
        fn = read_function(target, names.function)
        if fn is not None:
            return fn.tags
        role = read_role(target, names.role)
        return role.tags if role else {}
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "reading the stack") from None


def tagged_source_bucket(target: Target) -> str | None:
    """The brought source bucket recorded on the function (or role) by setup, if any."""
    return stack_tags(target).get(SOURCE_BUCKET_TAG)


def with_discovered_source(target: Target) -> Target:
    """From a fresh clone the settings do not know a brought bucket; the stack's tags do."""
    if target.settings.source_bucket:
        return target
    tags = stack_tags(target)
    brought = tags.get(SOURCE_BUCKET_TAG)
    if not brought:
        return target
    settings = dataclasses.replace(
        target.settings,
        source_bucket=brought,
        source_bucket_owner=target.settings.source_bucket_owner or tags.get(SOURCE_OWNER_TAG),
    )
    found = Target(
        settings, endpoint_url=target.endpoint_url, _clients=target._clients, _guard=target._guard
    )
    found.__dict__["account_id"] = target.account_id  # already resolved: no second STS call
    return found


def require_stack(target: Target) -> None:
    """Raise StackNotFound unless the stack's function and both buckets exist."""
    names = with_discovered_source(target).names
    try:
        lam = target.client("lambda")
        lam.get_function_configuration(FunctionName=names.function)
        s3 = target.client("s3")
        for bucket in (names.source_bucket, names.dest_bucket):
            s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFoundException", "404", "NoSuchBucket", "NotFound"):
            raise target.stack_not_found() from None
        raise translate(exc, "checking the stack") from None
    except BotoCoreError as exc:
        raise translate(exc, "checking the stack") from None


__all__ = [
    "Artifact",
    "SetupResult",
    "Sources",
    "compute_plan",
    "require_stack",
    "setup_stack",
]
