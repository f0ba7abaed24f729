"""The role grants exactly what the function needs, and nothing else."""

from __future__ import annotations

import json

from resizer_cli.deploy.policy import canonical, role_policy, trust_policy


def _grants(doc: dict) -> dict[frozenset[str], frozenset[str]]:
    out: dict[frozenset[str], frozenset[str]] = {}
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        assert set(stmt) <= {"Sid", "Effect", "Action", "Resource"}  # no NotAction/NotResource
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        res = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        out[frozenset(actions)] = frozenset(res)
    return out


EXPECTED = {
    frozenset({"s3:GetObject"}): frozenset({"arn:aws:s3:::src-b/raw/*"}),
    frozenset({"s3:PutObject"}): frozenset({"arn:aws:s3:::dst-b/*"}),
    frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}): frozenset(
        {"arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/fn:*"}
    ),
}


def test_role_policy_is_least_privilege() -> None:
    doc = role_policy(
        partition="aws",
        account="111122223333",
        region="eu-west-1",
        source_bucket="src-b",
        source_prefix="raw/",
        dest_bucket="dst-b",
        log_group="/aws/lambda/fn",
    )
    assert _grants(doc) == EXPECTED
    every_action = {a for actions in _grants(doc) for a in actions}
    assert "logs:CreateLogGroup" not in every_action
    assert not any("*" in a for a in every_action)


def test_deployed_policy_matches(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    n = target.names
    iam = target.client("iam")
    assert iam.list_role_policies(RoleName=n.role)["PolicyNames"] == [n.policy]
    assert iam.list_attached_role_policies(RoleName=n.role)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=n.role, PolicyName=n.policy)["PolicyDocument"]
    assert _grants(doc) == {
        frozenset({"s3:GetObject"}): frozenset({f"arn:aws:s3:::{n.source_bucket}/raw/*"}),
        frozenset({"s3:PutObject"}): frozenset({f"arn:aws:s3:::{n.dest_bucket}/*"}),
        frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}): frozenset(
            {f"arn:aws:logs:us-east-1:{n.account}:log-group:{n.log_group}:*"}
        ),
    }
    trust = iam.get_role(RoleName=n.role)["Role"]["AssumeRolePolicyDocument"]
    assert canonical(trust) == canonical(trust_policy())
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Statement"][0]["Action"] in ("sts:AssumeRole", ["sts:AssumeRole"])


def test_canonical_ignores_iam_reformatting() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
        ],
    }
    b = json.loads(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": ["arn:aws:s3:::b/*"],
                },
            }
        )
    )
    assert canonical(a) == canonical(b)
    c = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    assert canonical(a) != canonical(c)
