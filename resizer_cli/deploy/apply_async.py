"""Steps for the function's asynchronous invocation settings (see deploy.async_invoke)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resizer_cli.deploy import async_invoke, retries
from resizer_cli.deploy.plan import Action
from resizer_cli.errors import error_code
from resizer_cli.output import Step

if TYPE_CHECKING:
    from resizer_cli.deploy.apply import Context, StepFn


def _not_ready(exc: BaseException) -> bool:
    # Lambda checks that the role may write to the destination ("The function's execution
    # role does not have permissions to call PutObject on ..."): a policy just put takes
    # seconds to propagate. And an update of the function may still be running.
    return retries.is_role_not_ready(exc) or retries.is_update_in_progress(exc)


def async_config_put(ctx: Context, action: Action, step: Step) -> None:
    lam = ctx.target.client("lambda")
    # Put, not Update: it replaces the whole configuration, so an on-success destination
    # added by hand goes too, as the plan said.
    retries.call(
        lambda: lam.put_function_event_invoke_config(
            FunctionName=action.name, **async_invoke.desired(ctx.d)
        ),
        also=_not_ready,
        attempts=30,
        delay=2.0,
        max_delay=10.0,
    )


def remove(target: Any, function: str) -> bool:
    """Delete the configuration; False when there was none (or no function)."""
    lam = target.client("lambda")
    try:
        retries.call(
            lambda: lam.delete_function_event_invoke_config(FunctionName=function),
            also=retries.is_update_in_progress,
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        return False
    return True


STEPS: dict[tuple[str, str], StepFn] = {
    (async_invoke.RESOURCE, "put"): async_config_put,
}
