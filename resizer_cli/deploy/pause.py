"""Holding a function's invocations: reserved concurrency 0, remembered by a tag.

Both an architecture switch (apply_function) and a teardown's drain pause the function. The
tag goes first and records the reservation the function had, so a run cut short (Ctrl-C, a
failure) leaves a state the next `setup` sees and plans to resume: to the stack's
`reserved_concurrency` if it has one, else to the recorded value. A second pause keeps the
first record: the function's own reservation is never forgotten for the 0 of a pause.

Reserved concurrency 0 throttles new invocations; running ones finish. Asynchronous events
(S3's) are kept in Lambda's queue and retried for up to their maximum age.
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
"""

from __future__ import annotations

from resizer_cli.aws import Target
from resizer_cli.deploy import retries
from resizer_cli.deploy.desired import PAUSE_TAG


def hold(target: Target, function: str, function_arn: str) -> None:
    lam = target.client("lambda")
    tags = retries.call(lambda: lam.list_tags(Resource=function_arn)).get("Tags", {})
    if PAUSE_TAG not in tags:
        current = retries.call(lambda: lam.get_function_concurrency(FunctionName=function))
        previous = current.get("ReservedConcurrentExecutions")
        value = "" if previous is None else str(previous)
        retries.call(lambda: lam.tag_resource(Resource=function_arn, Tags={PAUSE_TAG: value}))
    retries.call(
        lambda: lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0),
        also=retries.is_update_in_progress,
    )
