"""One cold start, run by bench_cold_start.py as `python -I -S -B cold_start_child.py <json>`.

Standard library only until sys.path is laid out as Lambda's (task dir, the layer's python/,
the runtime dir with boto3, then the standard library), as the emulator's worker.py does.
Prints one JSON line: the monotonic clock at entry (the parent subtracts its own clock before
the spawn: interpreter start), the CPU time used by then, and [wall, CPU] ms of each thing the
mode asked for.
"""

from __future__ import annotations

import time

ENTERED = time.monotonic()
ENTERED_CPU = time.process_time()  # what the interpreter's start cost this process

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


class Context:
    """What the handler reads of Lambda's context object."""

    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def __init__(self) -> None:
        self._deadline = time.time() + 60

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.time()) * 1000)


class Timer:
    """Wall and CPU time (ms) of a block: on a shared machine the CPU time is the steadier."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = (time.perf_counter() - self.wall) * 1000
        self.cpu = (time.process_time() - self.cpu) * 1000

    def pair(self) -> list[float]:
        return [self.wall, self.cpu]


def timed_import(*names: str) -> list[float]:
    with Timer() as t:
        for name in names:
            importlib.import_module(name)
    return t.pair()


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {"Records": [{"eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}


def main() -> None:
    config = json.loads(sys.argv[1])
    stdlib = [p for p in sys.path if p]
    sys.path[:] = [config["task"], config["layer"], config["runtime"], *stdlib]
    out: dict[str, Any] = {"entered": ENTERED, "entered_cpu": ENTERED_CPU * 1000}
    mode = config["mode"]
    if mode == "modules":  # what the real init imports, in import order
        before = set(sys.modules)
        module = importlib.import_module("lambda_handler.handler")
        out["modules"] = [m for m in sys.modules if m not in before]
        out["client_at_init"] = getattr(module, "_client", None) is not None
        module.s3_client()
        out["sdk"] = "boto3" if "boto3" in sys.modules else "botocore.session"
    elif mode == "split":  # each phase timed on its own, in this order
        out["sdk"] = timed_import(config["sdk"], "botocore.config")
        out["pillow"] = timed_import(*config["pil_modules"])
        out["pillow_heif"] = timed_import("pillow_heif")
        out["handler"] = timed_import("lambda_handler.handler")  # no client: see the parent
        handler = sys.modules["lambda_handler.handler"]
        with Timer() as t:
            handler.s3_client()
        out["client"] = t.pair()
    elif mode == "cold":  # init as the runtime does it, then two invocations
        out["init"] = timed_import("lambda_handler.handler")
        handler = sys.modules["lambda_handler.handler"].handler
        event = s3_event(config["bucket"], config["key"])
        for name in ("first", "warm"):
            with Timer() as t:
                summary = handler(event, Context())
            out[name] = t.pair()
            if summary.get("ok") != 1:
                raise SystemExit(f"the invocation did not make thumbnails: {summary}")
    print(json.dumps(out), file=sys.__stdout__)


if __name__ == "__main__":
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    main()
