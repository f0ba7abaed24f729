"""resizer: deploy and run a serverless image-resizing pipeline on AWS or a local emulator."""

__version__ = "0.1.0"
