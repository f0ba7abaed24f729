"""The role grants exactly what the function needs, and nothing else."""

from __future__ import annotations

import json
from typing import Any

from resizer_cli.deploy.policy import canonical, role_policy, trust_policy


def _grants(doc: dict) -> dict[frozenset[str], tuple[frozenset[str], Any]]:
    out: dict[frozenset[str], tuple[frozenset[str], Any]] = {}
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        # No NotAction/NotResource.
        assert set(stmt) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        res = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        out[frozenset(actions)] = (frozenset(res), canonical({"Condition": stmt.get("Condition")}))
    return out


def _cond(**blocks: dict[str, Any]) -> Any:
    return canonical({"Condition": blocks or None})


def _expected(
    src: str, src_owner: str, dst: str, account: str, region: str, group: str, fn: str = ""
) -> Any:
    followers = {} if not fn else {
        # Lambda keeps failed events in the destination bucket, in the function's folder...
        frozenset({"s3:PutObject", "s3:ListBucket"}): (
            frozenset({f"arn:aws:s3:::{dst}", f"arn:aws:s3:::{dst}/aws/lambda/async/{fn}/*"}),
            _cond(StringEquals={"aws:ResourceAccount": account}),
        ),
        # ... and a deleted original's outputs are deleted, under our two prefixes only.
        frozenset({"s3:DeleteObject"}): (
            frozenset({f"arn:aws:s3:::{dst}/thumbnails/*", f"arn:aws:s3:::{dst}/results/*"}),
            _cond(StringEquals={"aws:ResourceAccount": account}),
        ),
    }
    return followers | {
        frozenset({"s3:GetObject"}): (
            frozenset({f"arn:aws:s3:::{src}/raw/*"}),
            _cond(StringEquals={"aws:ResourceAccount": src_owner}),
        ),
        frozenset({"s3:ListBucket"}): (
            frozenset({f"arn:aws:s3:::{src}"}),
            _cond(
                StringEquals={"aws:ResourceAccount": src_owner},
                StringLike={"s3:prefix": ["raw/*"]},
            ),
        ),
        frozenset({"s3:PutObject"}): (
            frozenset({f"arn:aws:s3:::{dst}/*"}),
            _cond(StringEquals={"aws:ResourceAccount": account}),
        ),
        frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}): (
            frozenset({f"arn:aws:logs:{region}:{account}:log-group:{group}:*"}),
            _cond(),
        ),
    }


def _doc(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "partition": "aws",
        "account": "111122223333",
        "region": "eu-west-1",
        "source_bucket": "src-b",
        "source_owner": "111122223333",
        "source_prefix": "raw/",
        "dest_bucket": "dst-b",
        "log_group": "/aws/lambda/fn",
    }
    return role_policy(**(base | kw))


def test_role_policy_is_least_privilege() -> None:
    doc = _doc()
    assert _grants(doc) == _expected(
        "src-b", "111122223333", "dst-b", "111122223333", "eu-west-1", "/aws/lambda/fn"
    )
    every_action = {a for actions in _grants(doc) for a in actions}
    assert "logs:CreateLogGroup" not in every_action
    assert not any("*" in a for a in every_action)


def test_a_source_bucket_of_another_account_is_read_only_there() -> None:
    doc = _doc(source_owner="444455556666")
    grants = _grants(doc)
    assert grants[frozenset({"s3:GetObject"})][1] == _cond(
        StringEquals={"aws:ResourceAccount": "444455556666"}
    )
    # Thumbnails are still written only to a bucket of our own account.
    assert grants[frozenset({"s3:PutObject"})][1] == _cond(
        StringEquals={"aws:ResourceAccount": "111122223333"}
    )


def test_a_customer_kms_key_is_granted_through_s3_only() -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    doc = _doc(kms_key=key, s3_service="s3.eu-west-1.amazonaws.com")
    grant = _grants(doc)[frozenset({"kms:Decrypt"})]
    assert grant == (
        frozenset({key}),
        _cond(StringEquals={"kms:ViaService": "s3.eu-west-1.amazonaws.com"}),
    )


def test_deployed_policy_matches(aws, target_factory, deploy) -> None:
    target, _ = target_factory()
    deploy(target)
    n = target.names
    iam = target.client("iam")
    assert iam.list_role_policies(RoleName=n.role)["PolicyNames"] == [n.policy]
    assert iam.list_attached_role_policies(RoleName=n.role)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=n.role, PolicyName=n.policy)["PolicyDocument"]
    assert _grants(doc) == _expected(
        n.source_bucket, n.account, n.dest_bucket, n.account, "us-east-1", n.log_group,
        n.function,
    )
    trust = iam.get_role(RoleName=n.role)["Role"]["AssumeRolePolicyDocument"]
    assert canonical(trust) == canonical(trust_policy())
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Statement"][0]["Action"] in ("sts:AssumeRole", ["sts:AssumeRole"])


def test_canonical_ignores_iam_reformatting() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"StringLike": {"s3:prefix": "raw/*"}},
            }
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
                    "Condition": {"StringLike": {"s3:prefix": ["raw/*"]}},
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
