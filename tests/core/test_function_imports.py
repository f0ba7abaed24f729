"""The deployed function imports only what Lambda gives it: the standard library, the
runtime's boto3 family, and what the layer's requirements ship (deptry cannot tell those
apart from the CLI's own dependencies)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# What Lambda's Python runtime provides besides the standard library.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
# Import names of the layer's distributions where they differ from the distribution's name.
IMPORT_NAMES = {"pillow": "PIL", "pillow-heif": "pillow_heif"}


def _layer_modules() -> set[str]:
    text = (ROOT / "resizer_cli" / "layer" / "requirements.txt").read_text()
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    names = {canonicalize_name(Requirement(ln).name) for ln in lines if ln}
    return {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in names}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_function_imports_only_what_lambda_and_its_layer_provide() -> None:
    allowed = set(sys.stdlib_module_names) | RUNTIME | _layer_modules() | {"lambda_handler"}
    allowed.add("__future__")
    bad = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "lambda_handler").rglob("*.py")
        for name in _imports(path) - allowed
    }
    assert not bad, sorted(bad)
    assert {"PIL", "pillow_heif"} <= _layer_modules()
