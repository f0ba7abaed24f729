"""May API Gateway invoke the function? Its resource policy must say so.

API Gateway invokes as the service principal `apigateway.amazonaws.com`, with the execute-api
ARN of the route as `AWS:SourceArn`: `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/
<METHOD><route path>`. Without a statement allowing that, Lambda refuses the invocation and
API Gateway answers 500 (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html).
"""

from __future__ import annotations

import re
from typing import Any

PRINCIPAL = "apigateway.amazonaws.com"
_ACTIONS = ("lambda:invokefunction", "lambda:*", "*")


def source_arn(partition: str, region: str, account: str, api_id: str, stage: str,
               route_key: str) -> str:
    verb, _, path = route_key.partition(" ")
    return f"arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{verb}{path}"


def _like(pattern: str, value: str) -> bool:
    """IAM's *Like operators: `*` and `?` are wildcards, everything else is literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal_ok(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(p in (PRINCIPAL, "*") for p in _values(principal.get("Service", [])))
    return False


def _action_ok(action: Any) -> bool:
    return any(a.lower() in _ACTIONS for a in _values(action))


def _condition_ok(operator: str, block: dict[str, Any], context: dict[str, str]) -> bool:
    for key, wanted in block.items():
        have = context.get(key.lower())
        if have is None:
            return False
        patterns = _values(wanted)
        if operator in ("ArnLike", "StringLike"):
            ok = any(_like(p, have) for p in patterns)
        elif operator in ("ArnEquals", "StringEquals"):
            ok = have in patterns
        else:  # an operator we do not evaluate: not granted, rather than granted by mistake
            return False
        if not ok:
            return False
    return True


def allows(statements: list[dict[str, Any]], arn: str, account: str) -> bool:
    context = {"aws:sourcearn": arn, "aws:sourceaccount": account}
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        if not _principal_ok(statement.get("Principal")) or not _action_ok(
            statement.get("Action", "")
        ):
            continue
        conditions = statement.get("Condition") or {}
        if all(_condition_ok(op, block, context) for op, block in conditions.items()
               if isinstance(block, dict)):
            return True
    return False
