"""The real handler bundle and the real Pillow layer, deployed under moto."""

from __future__ import annotations

import zipfile

from resizer_cli.deploy.bundle import build_handler_bundle, handler_source
from resizer_cli.deploy.stack import Sources, setup_stack
from resizer_cli.output import Reporter


def test_handler_bundle_is_deterministic_and_clean(tmp_path) -> None:
    src = handler_source()
    (src / "__pycache__").mkdir(exist_ok=True)  # importing the package leaves one; skip it
    first = build_handler_bundle()
    second = build_handler_bundle(dest=tmp_path / "again.zip")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    with zipfile.ZipFile(first.path) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert "lambda_handler/handler.py" in names and "lambda_handler/__init__.py" in names
    assert all(n.startswith("lambda_handler/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_deploy_with_the_real_layer_builder(aws, target_factory) -> None:
    # python3.12/x86_64 is the layer the layer tests build too: the session cache is shared.
    target, calls = target_factory(runtime="python3.12")
    result = setup_stack(target, Reporter.silent(), sources=Sources())
    assert result.changed
    lam = target.client("lambda")
    versions = lam.list_layer_versions(LayerName=target.names.layer)["LayerVersions"]
    assert len(versions) == 1
    assert versions[0]["CompatibleRuntimes"] == ["python3.12"]
    from resizer_cli.layer import build_layer

    artifact = build_layer("python3.12", "x86_64")
    assert artifact.sha256 in versions[0]["Description"]
    cfg = lam.get_function_configuration(FunctionName=target.names.function)
    # With bytecode for python3.12 when this machine can compile it (resizer_cli.bytecode).
    assert cfg["CodeSha256"] == build_handler_bundle(python_version="3.12").code_sha256
    calls.clear()
    again = setup_stack(target, Reporter.silent(), sources=Sources())
    assert again.actions == [] and calls.mutating == []
