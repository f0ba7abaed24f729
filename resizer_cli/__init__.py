"""resizer: deploy and run a serverless image-resizing pipeline on AWS or a local emulator."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from resizer_cli.ops import upload as upload


def __getattr__(name: str) -> object:
    # Transitional: ops/demo.py still says `from resizer_cli import upload` until its import
    # line follows the move to resizer_cli/ops/ (next commit).
    if name == "upload":
        from resizer_cli.ops import upload

        return upload
    raise AttributeError(name)
