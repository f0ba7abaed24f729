"""Is the pipeline paused? Reserved concurrency 0 runs nothing, so waiting for a result would
only end at its timeout. One cheap read (GetFunctionConcurrency) before a command waits."""

from __future__ import annotations

from botocore.exceptions import ClientError

from resizer_cli.aws import Target
from resizer_cli.deploy.desired import PAUSE_TAG
from resizer_cli.errors import ResizerError
from resizer_cli.ops.fanout import concurrency_of


def _left_by_a_run(target: Target) -> bool:
    """Whether the 0 is a pause that an interrupted setup or teardown left (its tag)."""
    try:
        tags = target.client("lambda").list_tags(Resource=target.function_arn).get("Tags", {})
    except ClientError:
        return False
    return PAUSE_TAG in tags


def check_not_paused(target: Target, function: str, waiting: str, instead: str) -> None:
    """One line when `function` has reserved concurrency 0. `waiting`: what would wait in
    vain ("waiting for thumbnails"); `instead`: what the user can do meanwhile."""
    if not function or concurrency_of(target.client("lambda"), function) != 0:
        return
    if _left_by_a_run(target):
        fix = "run `resizer setup` to finish the pause an interrupted run left"
    else:
        fix = ("lift it with `resizer setup --reserved-concurrency none` (or a number of "
               "executions)")
    raise ResizerError(
        f"the pipeline is paused: function {function} has reserved concurrency 0, so "
        f"{waiting} would only end at the timeout", f"{fix}, or {instead}",
    )
