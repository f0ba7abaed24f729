"""The region (flag > RESIZER_REGION > resizer.toml > saved stack > AWS configuration) and the
saved stacks, kept per (stack, target, region), with the old one-file-per-name form migrated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from resizer_cli import settings
from resizer_cli.aws import Target
from resizer_cli.errors import ResizerError
from resizer_cli.paths import state_dir
from resizer_cli.settings import load, save_stack

AWS_CONFIG = """\
[default]
region = ap-south-1
[profile eu]
region = eu-west-3
aws_access_key_id = testing
aws_secret_access_key = testing
[profile bare]
output = json
"""


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real AWS config file with profiles; no region in the environment."""
    path = tmp_path / "aws-config"
    path.write_text(AWS_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return path


def aws(**flags: object) -> settings.Settings:
    return load({"target": "aws", **flags})


def test_region_from_the_aws_configuration_chain(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = aws()
    assert s.region == "ap-south-1"
    assert s.origins["region"] == f"the region of AWS profile 'default' (in {aws_config})"
    assert aws(profile="eu").region == "eu-west-3"
    monkeypatch.setenv("AWS_PROFILE", "eu")
    assert aws().region == "eu-west-3"
    # The environment beats the profile, AWS_REGION beats AWS_DEFAULT_REGION (as in the SDKs).
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    assert aws().region == "sa-east-1"
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert aws().region == "ca-central-1" and aws().origins["region"] == "AWS_REGION"
    # And everything of resizer's own beats the AWS configuration.
    Path("resizer.toml").write_text('region = "eu-north-1"\n')
    assert aws().region == "eu-north-1"
    monkeypatch.setenv("RESIZER_REGION", "eu-south-1")
    assert aws().region == "eu-south-1"
    assert aws(region="me-south-1").region == "me-south-1"


def test_no_region_at_all_is_one_line(aws_config: Path) -> None:
    with pytest.raises(ResizerError) as err:
        aws(profile="bare")
    assert str(err.value) == (
        "no AWS region is set for --target aws (pass --region, set RESIZER_REGION or AWS_REGION, "
        "or add `region` to your AWS profile in ~/.aws/config)"
    )
    with pytest.raises(ResizerError, match=r"The config profile \(nosuch\) could not be found"):
        aws(profile="nosuch")


def test_a_bad_region_names_where_it_came_from(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "Europe")
    with pytest.raises(ResizerError, match=r"^AWS_DEFAULT_REGION=Europe: not a region name"):
        aws()


def test_the_local_target_ignores_the_aws_configuration(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    s = load()
    assert (s.target, s.region, s.origins["region"]) == ("local", "us-east-1", "default")
    assert load({"region": "eu-west-1"}).region == "eu-west-1"  # any region, when asked


def test_the_session_uses_the_resolved_region_with_moto(aws_config: Path) -> None:
    with mock_aws():
        target = Target(aws(profile="eu"))
        assert target.session.region_name == "eu-west-3"
        s3 = target.client("s3")
        s3.create_bucket(
            Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
        assert s3.get_bucket_location(Bucket="regional")["LocationConstraint"] == "eu-west-3"
        assert target.describe() == "AWS account 123456789012, eu-west-3, stack resizer"


# --- saved stacks per (stack, target, region) ---------------------------------------------------

def stacks() -> Path:
    return state_dir() / "stacks"


def set_up(stack: str, region: str, target: str = "aws", when: float = 0, **flags: object) -> None:
    """What a successful setup leaves behind, at a chosen time."""
    save_stack(load({"stack": stack, "target": target, "region": region, **flags}))
    path = stacks() / stack / f"{target}.{region}.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "saved_at": when or data["saved_at"]}))


def test_one_stack_in_two_regions_side_by_side() -> None:
    set_up("prod", "eu-west-1", when=1000, memory=1024)
    set_up("prod", "us-east-1", when=2000, memory=2048)
    assert sorted(p.name for p in (stacks() / "prod").iterdir()) == [
        "aws.eu-west-1.json", "aws.us-east-1.json",
    ]
    # No region given: the most recently set up, and the user is told about the other.
    s = load()
    assert (s.stack, s.region, s.memory) == ("prod", "us-east-1", 2048)
    assert s.notes == (
        "stack prod is also set up in eu-west-1 (aws); acting on us-east-1 (aws), "
        "the most recently set up (pass --region to choose)",
    )
    eu = load({"region": "eu-west-1"})
    assert (eu.region, eu.memory, eu.notes) == ("eu-west-1", 1024, ())
    # Tearing one region down forgets that one only.
    settings.forget_stack("prod", "aws", "us-east-1")
    s = load()
    assert (s.region, s.memory, s.notes) == ("eu-west-1", 1024, ())
    assert settings.current_stack() == "prod"
    settings.forget_stack("prod", "aws", "eu-west-1")
    assert settings.current_stack() is None and not (stacks() / "prod").exists()


def test_targets_are_kept_apart_too() -> None:
    set_up("web", "us-east-1", target="local", when=3000, quality=70)
    set_up("web", "us-east-1", target="aws", when=1000, quality=90)
    s = load({"stack": "web"})
    assert (s.target, s.quality) == ("local", 70)
    assert "also set up in us-east-1 (aws)" in s.notes[0] and "--target/--region" in s.notes[0]
    assert load({"stack": "web", "target": "aws"}).quality == 90
    # A local stack's settings never leak into a first setup on AWS elsewhere.
    assert load({"stack": "web", "target": "aws", "region": "eu-west-1"}).quality == 85


def test_ties_are_broken_deterministically() -> None:
    set_up("tie", "eu-west-1", when=5000)
    set_up("tie", "ap-south-1", when=5000)
    assert load({"stack": "tie"}).region == "eu-west-1"


def test_the_old_one_file_per_name_form_is_migrated() -> None:
    stacks().mkdir(parents=True, exist_ok=True)
    old = {**settings.Settings(stack="legacy", target="aws", region="eu-west-2",
                               memory=768).to_json()}
    (stacks() / "legacy.json").write_text(json.dumps(old))
    (stacks() / "current").write_text("legacy")
    s = load()
    assert (s.stack, s.target, s.region, s.memory) == ("legacy", "aws", "eu-west-2", 768)
    assert not (stacks() / "legacy.json").exists()
    assert (stacks() / "legacy" / "aws.eu-west-2.json").is_file()
    assert settings.saved_stack("legacy")["memory"] == 768  # type: ignore[index]


@pytest.mark.parametrize(
    "content, why",
    [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"),
     ('{"saved_at": "yesterday"}', "saved_at is not a time")],
)
def test_a_damaged_saved_stack_is_an_error_naming_the_file(content: str, why: str) -> None:
    set_up("prod", "eu-west-1")
    path = stacks() / "prod" / "aws.eu-west-1.json"
    path.write_text(content)
    with pytest.raises(ResizerError) as err:
        load()
    assert str(err.value) == (
        f"the saved settings of stack prod in {path} are damaged ({why}) (delete that file and "
        "pass the stack's settings again (flags or resizer.toml))"
    )
    # Another region's file is not read when the region is given.
    assert load({"region": "us-west-2", "target": "aws"}).region == "us-west-2"
    path.unlink()
    assert load().region == "us-east-1"  # as if never set up: the local default


def test_a_bad_value_in_a_saved_stack_names_the_file() -> None:
    set_up("prod", "eu-west-1")
    path = stacks() / "prod" / "aws.eu-west-1.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "memory": 64}))
    with pytest.raises(ResizerError) as err:
        load()
    assert str(err.value) == (
        f"memory saved in {path} = 64: out of range (use 128 to 10240; or delete that file and "
        "pass the stack's settings again)"
    )


def test_a_damaged_current_pointer_is_an_error() -> None:
    stacks().mkdir(parents=True, exist_ok=True)
    (stacks() / "current").write_text("Not A Stack")
    with pytest.raises(ResizerError, match=r"current.* are damaged \(not a stack name\)"):
        load()
    assert load({"stack": "given"}).stack == "given"


def test_saved_entries_ignore_keys_they_do_not_know() -> None:
    # A newer resizer may save more settings; an older one keeps working with the rest.
    set_up("prod", "eu-west-1", memory=1024)
    path = stacks() / "prod" / "aws.eu-west-1.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "a_future_setting": 5}))
    assert load().memory == 1024
