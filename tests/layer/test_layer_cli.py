"""The installed `resizer layer` command: output, --json, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from resizer_cli.layer import LayerArtifact

Run = Callable[..., subprocess.CompletedProcess[str]]


def _one_line_failure(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_build_json_reports_path_size_and_sha(
    run_resizer: Run, layer_312_x86: LayerArtifact
) -> None:
    proc = run_resizer(
        "layer", "build", "--runtime", "python3.12", "--arch", "x86_64", "--json", check=True
    )
    data = json.loads(proc.stdout)
    assert data["sha256"] == layer_312_x86.sha256
    assert data["size"] == layer_312_x86.size
    assert data["unzipped_size"] == layer_312_x86.unzipped_size
    assert Path(data["path"]) == layer_312_x86.path
    assert "from the cache" not in proc.stdout  # human output stays on stderr


def test_build_prints_path_size_sha_and_copies_to_output(
    run_resizer: Run, layer_313_arm: LayerArtifact, tmp_path: Path
) -> None:
    out = tmp_path / "layer.zip"
    proc = run_resizer(
        "layer", "build", "--runtime", "python3.13", "--arch", "arm64", "-o", str(out), check=True
    )
    assert f"path    {out}" in proc.stdout
    assert f"sha256  {layer_313_arm.sha256}" in proc.stdout
    assert "MB zipped" in proc.stdout
    assert "python3.13 arm64" in proc.stderr.splitlines()[0]  # where it acts, first
    assert out.read_bytes() == layer_313_arm.path.read_bytes()


def test_verify_accepts_a_good_layer(run_resizer: Run, layer_313_arm: LayerArtifact) -> None:
    proc = run_resizer(
        "layer",
        "verify",
        str(layer_313_arm.path),
        "--runtime",
        "python3.13",
        "--arch",
        "arm64",
        "--json",
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["sha256"] == layer_313_arm.sha256
    assert any("_imaging.cpython-313-aarch64-linux-gnu.so" in n for n in report["extensions"])


def test_verify_wrong_architecture_is_one_line_and_exit_1(
    run_resizer: Run, layer_313_arm: LayerArtifact
) -> None:
    proc = run_resizer("layer", "verify", str(layer_313_arm.path), "--runtime", "python3.13")
    line = _one_line_failure(proc)
    assert "not a layer for python3.13 x86_64" in line
    assert "AArch64" in line
    assert "resizer layer build --runtime python3.13 --arch x86_64" in line


def test_verify_wrong_python_is_one_line_and_exit_1(
    run_resizer: Run, layer_312_x86: LayerArtifact
) -> None:
    line = _one_line_failure(
        run_resizer("layer", "verify", str(layer_312_x86.path), "--runtime", "python3.13")
    )
    assert "is built for Python 3.12, not python3.13" in line


def test_verify_non_layer_zip_and_non_zip(run_resizer: Run, tmp_path: Path) -> None:
    func = tmp_path / "function.zip"
    with zipfile.ZipFile(func, "w") as zf:
        zf.writestr("handler.py", "")
    assert "no python/ folder" in _one_line_failure(run_resizer("layer", "verify", str(func)))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is not a zip file" in _one_line_failure(run_resizer("layer", "verify", str(text)))


def test_unknown_runtime_and_architecture(run_resizer: Run) -> None:
    line = _one_line_failure(run_resizer("layer", "build", "--runtime", "python2.7"))
    assert "unknown Lambda runtime 'python2.7'" in line and "python3.13" in line
    line = _one_line_failure(run_resizer("layer", "build", "--arch", "sparc"))
    assert "unknown Lambda architecture 'sparc'" in line


def test_local_refuses_a_different_runtime(run_resizer: Run) -> None:
    line = _one_line_failure(run_resizer("layer", "build", "--local", "--runtime", "python3.10"))
    assert "--local targets this interpreter" in line


def test_no_wheel_for_the_target_is_one_line(run_resizer: Run, tmp_path: Path) -> None:
    proc = run_resizer(
        "layer",
        "build",
        "--runtime",
        "python3.11",
        "--arch",
        "arm64",
        env={"RESIZER_CACHE_DIR": str(tmp_path / "cache")},
    )
    line = _one_line_failure(proc)
    # Pillow 13 publishes no wheel for Amazon Linux 2's glibc 2.26.
    assert "pillow==13.0.0 has no wheel for python3.11 arm64 (cp311, glibc ≤ 2.26)" in line
    assert list((tmp_path / "cache" / "layers").iterdir()) == []


def test_no_network_is_one_line(run_resizer: Run, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_RETRIES="0",
        PIP_NO_CACHE_DIR="1",
        RESIZER_CACHE_DIR=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [*_resizer(), "layer", "build", "--runtime", "python3.13"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    line = _one_line_failure(proc)
    assert "cannot reach 127.0.0.1 to download pillow==13.0.0" in line


def test_ctrl_c_during_a_build_leaves_no_partial_zip(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    layers = cache / "layers"
    env = {**os.environ, "RESIZER_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        [*_resizer(), "layer", "build", "--runtime", "python3.12", "--arch", "arm64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        # A shell's background job ignores SIGINT, and children inherit that: give the build
        # the default handler, as a terminal's Ctrl-C would find it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # The staging folder lives for the whole build (download, assemble, verify): signal as
        # soon as it appears, so that a loaded machine cannot let the build finish first.
        deadline = time.monotonic() + 60
        while not any(layers.glob(".staging-*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert any(layers.glob(".staging-*")), "the build never got as far as staging"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert list(layers.iterdir()) == []


def _resizer() -> list[str]:
    exe = shutil.which("resizer")
    assert exe, "the resizer command is not installed"
    return [exe]
