"""Cold start of the function: what its init spends, and where each cost lands, before and after.

Code versions (both in this run):
  before  lambda_handler/ at the base commit (default: where this branch left main), from git
  after   this checkout's lambda_handler/
Bytecode (the same Python files either way):
  src     no .pyc anywhere in the function zip or the layer: what Lambda runs today. /var/task
          and /opt are read-only, so every cold start compiles the handler and Pillow again
  pyc     compiled ahead (hash-checked .pyc beside the sources)

Every run is a fresh interpreter laid out like Lambda's Python runtime: `python -I -S -B`,
sys.path = task dir, the layer's python/, a runtime dir holding boto3 (the emulator's own,
built by emulator.artifacts), then the standard library. Medians of N interleaved runs, ms.

  1. init, split by phase (each phase timed alone, in this order), and where the code under
     test spends it: "init", "1st S3 event" or "1st HEIC" (a cut import moves its cost there)
  2. a cold start end to end against a moto server on 127.0.0.1: init (interpreter start +
     handler import), the first invocation and a warm one, for a JPEG and for a HEIC
  3. the emulator's own numbers: Init Duration and Duration from the REPORT lines of real
     emulator workers (a new configuration each time, so each invocation is a cold start)

    python benchmarks/bench_cold_start.py [--runs N] [--base COMMIT] [--no-emulator]
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import logging
import os
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import PIL  # noqa: E402
import pillow_heif  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from benchmarks.bench_thumbnail import photo_like  # noqa: E402
from resizer_cli.emulator.artifacts import build_runtime_dir  # noqa: E402

CHILD = Path(__file__).with_name("cold_start_child.py")
BUCKET = "bench-cold-start"
KEYS = {"jpeg": "raw/photo.jpg", "heic": "raw/photo.heic"}
LAYER_TOPS = ("PIL", "pillow.libs", "pillow_heif", "pillow_heif.libs")
REGION = "us-east-1"


# --- layout --------------------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def base_commit(explicit: str | None) -> str:
    if explicit:
        return git("rev-parse", explicit)
    return git("merge-base", "HEAD", "main")


def export_handler(commit: str | None, dest: Path) -> None:
    """lambda_handler/ at `commit` (None: this checkout), without caches."""
    if commit is None:
        shutil.copytree(ROOT / "lambda_handler", dest / "lambda_handler",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return
    names = git("ls-tree", "-r", "--name-only", commit, "lambda_handler").splitlines()
    for name in names:
        data = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)


def build_layer(dest: Path) -> None:
    """python/ with Pillow and pillow-heif as the layer ships them: sources, no .pyc."""
    site = Path(PIL.__file__).resolve().parents[1]
    heif_ext = Path(pillow_heif.__file__).resolve().parent.parent
    python = dest / "python"
    python.mkdir(parents=True)
    for top in LAYER_TOPS:
        if (site / top).exists():
            shutil.copytree(site / top, python / top,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for ext in heif_ext.glob("_pillow_heif*.so"):
        shutil.copy2(ext, python / ext.name)


def compile_tree(root: Path) -> None:
    ok = compileall.compile_dir(
        str(root), quiet=1, workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"compileall failed in {root}")


def drop_bytecode(root: Path) -> None:
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache)


class Layout:
    """Task dirs (before/after x src/pyc), two layers (src/pyc) and the runtime dir."""

    def __init__(self, work: Path, base: str) -> None:
        self.work = work
        self.runtime = build_runtime_dir(work / "runtime")
        for code, commit in (("before", base), ("after", None)):
            for state in ("src", "pyc"):
                export_handler(commit, self.task(code, state))
                if state == "pyc":
                    compile_tree(self.task(code, state))
        build_layer(work / "opt-src")
        shutil.copytree(work / "opt-src", work / "opt-pyc", symlinks=True)
        compile_tree(work / "opt-pyc")

    def task(self, code: str, state: str) -> Path:
        return self.work / f"task-{code}-{state}"

    def layer(self, state: str) -> Path:
        return self.work / f"opt-{state}" / "python"

    def config(self, code: str, state: str, mode: str, **extra: Any) -> dict[str, Any]:
        return {"task": str(self.task(code, state)), "layer": str(self.layer(state)),
                "runtime": str(self.runtime), "mode": mode, **extra}


def run_child(config: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    before = time.monotonic()
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", str(CHILD), json.dumps(config)],
                          capture_output=True, text=True, env=env, cwd=config["task"])
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({config['mode']}):\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    # The child's first statement, on the same (system-wide) monotonic clock.
    out["start"] = [(out.pop("entered") - before) * 1000, out.pop("entered_cpu")]
    # Stray bytecode would make "src" a lie: -B writes none, and nothing else may.
    if config["layer"].endswith("opt-src/python") and any(Path(config["task"]).rglob("*.pyc")):
        raise SystemExit("bytecode appeared in a src task dir")
    return out


def lambda_env(endpoint: str | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- images --------------------------------------------------------------------------------
def images() -> dict[str, bytes]:
    """A 12 MP photo-like JPEG, and the same scene as a 3 MP HEIC (x265 is slow to encode)."""
    buf = io.BytesIO()
    photo_like(4000, 3000, seed=4).save(buf, "JPEG", quality=88)
    heif = io.BytesIO()
    pillow_heif.from_pillow(photo_like(2000, 1500, seed=5)).save(heif, quality=60)
    return {"jpeg": buf.getvalue(), "heic": heif.getvalue()}


@contextmanager
def moto_s3(data: dict[str, bytes]) -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        for kind, body in data.items():
            s3.put_object(Bucket=BUCKET, Key=KEYS[kind], Body=body)
        yield endpoint
    finally:
        server.stop()


# --- 1. the split ---------------------------------------------------------------------------
WALL, CPU = 0, 1  # the child's [wall, CPU] pairs
PHASES = ("start", "sdk", "pillow", "pillow_heif", "handler", "client")
LABELS = {
    "start": "interpreter start",
    "sdk": "import the SDK (boto3 or botocore)",
    "pillow": "import Pillow (the modules init uses)",
    "pillow_heif": "import pillow_heif",
    "handler": "handler modules (+ their stdlib)",
    "client": "S3 client creation",
}


def where(modules: dict[str, Any]) -> dict[str, str]:
    """Where each phase lands for one code version, from what its real init imported."""
    loaded = set(modules["modules"])
    return {
        "start": "init",
        "sdk": "init" if modules["sdk"] in loaded else "1st S3 event",
        "pillow": "init" if "PIL.Image" in loaded else "1st image",
        "pillow_heif": "init" if "pillow_heif" in loaded else "1st HEIC",
        "handler": "init",
        "client": "init" if modules["client_at_init"] else "1st S3 event",
    }


def split(layout: Layout, runs: int) -> None:
    env = lambda_env()
    probes = {code: run_child(layout.config(code, "pyc", "modules"), env)
              for code in ("before", "after")}
    pil = sorted({m for p in probes.values() for m in p["modules"] if m.startswith("PIL")},
                 key=probes["before"]["modules"].index)
    places = {code: where(p) for code, p in probes.items()}
    # No AWS_LAMBDA_FUNCTION_NAME: the client is then made in its own phase, after the import.
    split_env = {k: v for k, v in env.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    times: dict[tuple[str, str], dict[str, list[float]]] = {}
    for _ in range(runs):
        for code in ("before", "after"):
            for state in ("src", "pyc"):
                out = run_child(layout.config(code, state, "split", pil_modules=pil,
                                              sdk=probes[code]["sdk"]), split_env)
                cell = times.setdefault((code, state), {p: [] for p in PHASES})
                for phase in PHASES:
                    cell[phase].append(out[phase][CPU])
    print(f"\n1. Init split by phase (CPU ms, median of {runs} fresh processes)")
    cols = [("before", "src"), ("before", "pyc"), ("after", "src"), ("after", "pyc")]
    head = f"{'phase':<40}" + "".join(f"{c + ' ' + s:>12}" for c, s in cols)
    print(head + f"  {'lands in (before)':<18}{'lands in (after)':<18}")
    for phase in PHASES:
        row = f"{LABELS[phase]:<40}"
        row += "".join(f"{med(times[c][phase]):>12.1f}" for c in cols)
        print(row + f"  {places['before'][phase]:<18}{places['after'][phase]:<18}")
    for code in ("before", "after"):
        init = [p for p in PHASES if places[code][p] == "init"]
        for state in ("src", "pyc"):
            total = sum(med(times[(code, state)][p]) for p in init)
            print(f"  sum of the init phases, {code} {state}: {total:.1f} ms")


# --- 2. end to end ----------------------------------------------------------------------------
def end_to_end(layout: Layout, runs: int, endpoint: str) -> None:
    env = lambda_env(endpoint)
    cases = [(code, state, kind) for kind in ("jpeg", "heic") for code in ("before", "after")
             for state in ("src", "pyc")]
    rows: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for _ in range(runs):
        for code, state, kind in cases:
            out = run_child(layout.config(code, state, "cold", bucket=BUCKET, key=KEYS[kind]),
                            env)
            cell = rows.setdefault((code, state, kind), {k: [] for k in (
                "init", "first", "warm", "wall")})
            cell["init"].append(out["start"][CPU] + out["init"][CPU])
            cell["first"].append(out["first"][CPU])
            cell["warm"].append(out["warm"][CPU])
            cell["wall"].append(out["start"][WALL] + out["init"][WALL] + out["first"][WALL])
    print(f"\n2. A cold start end to end (moto server on 127.0.0.1; CPU ms of the function's "
          f"process, median of {runs}; the last column is wall time)")
    print(f"{'image':<6}{'code':<8}{'bytecode':<10}{'init':>9}{'1st invocation':>16}"
          f"{'init + 1st':>12}{'warm':>9}{'1st - warm':>12}{'wall init + 1st':>17}")
    for code, state, kind in sorted(cases, key=lambda c: (c[2] != "jpeg", c[0] != "before",
                                                          c[1] != "src")):
        cell = rows[(code, state, kind)]
        init, first, warm = med(cell["init"]), med(cell["first"]), med(cell["warm"])
        print(f"{kind:<6}{code:<8}{state:<10}{init:>9.1f}{first:>16.1f}{init + first:>12.1f}"
              f"{warm:>9.1f}{first - warm:>12.1f}{med(cell['wall']):>17.1f}")


# --- 3. the emulator --------------------------------------------------------------------------
REPORT_RE = re.compile(r"Duration: ([\d.]+) ms.*?Init Duration: ([\d.]+) ms", re.S)


def zip_dir(root: Path) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(root)))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def emulator(layout: Layout, runs: int, data: dict[str, bytes], work: Path) -> None:
    from resizer_cli.emulator import control

    os.environ["RESIZER_HOME"] = str(work / "emulator-home")
    control.start()
    try:
        conn = control.connection()
        assert conn is not None
        kwargs = conn.boto3_kwargs()
        lam, s3, iam = (boto3.client(s, **kwargs) for s in ("lambda", "s3", "iam"))
        role = iam.create_role(RoleName="bench-cold-start", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        s3.create_bucket(Bucket=BUCKET)
        for kind, body in data.items():
            s3.put_object(Bucket=BUCKET, Key=KEYS[kind], Body=body)
        layers = {
            state: lam.publish_layer_version(
                LayerName=f"bench-pillow-{state}",
                Content={"ZipFile": zip_dir(layout.layer(state).parent)},
                CompatibleRuntimes=[conn_runtime()],
            )["LayerVersionArn"]
            for state in ("src", "pyc")
        }
        cases = [(code, state) for code in ("before", "after") for state in ("src", "pyc")]
        for code, state in cases:
            lam.create_function(
                FunctionName=f"bench-{code}-{state}", Runtime=conn_runtime(), Role=role,
                Handler="lambda_handler.handler.handler", MemorySize=1024, Timeout=60,
                Code={"ZipFile": zip_dir(layout.task(code, state))}, Layers=[layers[state]],
            )
        results: dict[tuple[str, str], dict[str, list[float]]] = {}
        event = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": BUCKET}, "object": {"key": KEYS["jpeg"]}}}]})
        for run in range(runs + 1):
            for code, state in cases:
                name = f"bench-{code}-{state}"
                # A new configuration retires the warm worker: the next invoke is a cold start.
                lam.update_function_configuration(
                    FunctionName=name, Environment={"Variables": {"BENCH_RUN": str(run)}})
                lam.get_waiter("function_updated_v2").wait(FunctionName=name)
                resp = lam.invoke(FunctionName=name, Payload=event, LogType="Tail")
                import base64

                tail = base64.b64decode(resp["LogResult"]).decode()
                found = REPORT_RE.search(tail[tail.rfind("REPORT"):])
                if resp.get("FunctionError") or not found:
                    raise SystemExit(f"{name}: no cold REPORT line:\n{tail}")
                cell = results.setdefault((code, state), {"init": [], "dur": [], "first": []})
                if run == 0:  # the first start of a new task dir
                    cell["first"].append(float(found.group(2)))
                else:
                    cell["dur"].append(float(found.group(1)))
                    cell["init"].append(float(found.group(2)))
        print(f"\n3. The emulator's REPORT lines (a 12 MP JPEG event; median of {runs} cold "
              "starts, ms)")
        print(f"{'code':<8}{'bytecode':<10}{'Init Duration':>15}{'Duration':>10}"
              f"{'Init, 1st start of the code':>30}")
        for code, state in cases:
            cell = results[(code, state)]
            print(f"{code:<8}{state:<10}{med(cell['init']):>15.1f}{med(cell['dur']):>10.1f}"
                  f"{med(cell['first']):>30.1f}")
    finally:
        control.stop()


def conn_runtime() -> str:
    from resizer_cli.emulator.environment import LOCAL_RUNTIME

    return LOCAL_RUNTIME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--base", help="the 'before' commit (default: merge-base with main)")
    parser.add_argument("--no-emulator", action="store_true")
    args = parser.parse_args()
    base = base_commit(args.base)
    load = os.getloadavg()
    print(f"bench_cold_start: before = {base[:12]} ({git('log', '-1', '--format=%s', base)})")
    print(f"after = this checkout ({git('rev-parse', '--short=12', 'HEAD')}"
          f"{', with changes' if git('status', '--porcelain', 'lambda_handler') else ''}); "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        work = Path(tmp)
        layout = Layout(work, base)
        data = images()
        split(layout, args.runs)
        with moto_s3(data) as endpoint:
            end_to_end(layout, args.runs, endpoint)
        if not args.no_emulator:
            emulator(layout, args.runs, data, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
