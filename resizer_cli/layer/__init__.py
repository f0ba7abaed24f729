"""The Lambda layer builder: the wheels for a (runtime, architecture), laid out, zipped,
verified and cached. `requirements.txt` beside this file is its whole input.

Modules by job: target (what a runtime and CPU accept), requirements (the pins, with
`packaging`), download (pip), assemble (layout and zip), verify (check any zip), elf (read
native files), build (the cached build that ties them together).
"""

from resizer_cli.layer.build import (
    LayerArtifact,
    build_layer,
    layer_description,
    layer_extras,
    layer_pins,
    parse_layer_sha,
)
from resizer_cli.layer.requirements import requirements_text
from resizer_cli.layer.target import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_RUNTIME,
    LayerError,
    host_architecture,
    local_target,
)
from resizer_cli.layer.verify import VerifyReport, verify_layer

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_RUNTIME",
    "LayerArtifact",
    "LayerError",
    "VerifyReport",
    "build_layer",
    "host_architecture",
    "layer_description",
    "layer_extras",
    "layer_pins",
    "local_target",
    "parse_layer_sha",
    "requirements_text",
    "verify_layer",
]
