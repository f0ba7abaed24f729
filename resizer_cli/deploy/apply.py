"""Carry out a plan, in dependency order, with the retries and waits real AWS needs.

Each action is idempotent on its own, so an apply cut short (Ctrl-C, a failure) is finished by
the next `setup`: it re-reads what exists and plans only what is still missing. The steps for
each kind of resource live in their own module (apply_storage, apply_role, apply_function,
apply_wiring, apply_api, apply_async); this one dispatches to them and turns AWS errors into
one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy.desired import Desired
from resizer_cli.deploy.plan import Action, Plan
from resizer_cli.errors import ResizerError, error_code, from_boto
from resizer_cli.output import Reporter, Step


@dataclass
class Context:
    """What every step may use: where, what is wanted, and what earlier steps produced."""

    target: Target
    d: Desired
    layer_arn: str | None


StepFn = Callable[[Context, Action, Step], None]


def _handlers() -> dict[tuple[str, str], StepFn]:
    from resizer_cli.deploy import (
        apply_api,
        apply_async,
        apply_function,
        apply_role,
        apply_storage,
        apply_wiring,
    )

    out: dict[tuple[str, str], StepFn] = {}
    for module in (
        apply_storage, apply_role, apply_function, apply_wiring, apply_api, apply_async
    ):
        out.update(module.STEPS)
    return out


class Applier:
    def __init__(self, target: Target, desired: Desired, plan: Plan, reporter: Reporter) -> None:
        self.ctx = Context(target, desired, plan.layer_arn)
        self.plan = plan
        self.reporter = reporter
        self._steps = _handlers()

    @property
    def layer_arn(self) -> str | None:
        return self.ctx.layer_arn

    def run(self) -> None:
        for action in self.plan.actions:
            handler = self._steps.get((action.resource, action.action))
            if handler is None:
                raise AssertionError(f"no handler for {action.resource} {action.action}")
            with self.reporter.step(action.title) as step:
                try:
                    handler(self.ctx, action, step)
                except (ClientError, BotoCoreError) as exc:
                    raise translate(exc, action.title) from None
                if not step.detail:
                    step.note(action.detail)


def translate(exc: BaseException, doing: str) -> ResizerError:
    """A one-line error for a failed AWS call, saying that a re-run continues the job."""
    known = from_boto(exc, doing)
    if known is not None:
        return known
    if isinstance(exc, ClientError):
        msg = exc.response.get("Error", {}).get("Message", "")
        return ResizerError(
            f"{doing}: {error_code(exc)}: {msg}".rstrip(": "),
            "fix the cause and re-run; the command continues where it stopped",
        )
    return ResizerError(f"{doing}: {exc}", "re-run the command")
