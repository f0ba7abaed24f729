"""Thumbnails from encoded image bytes: a pure function, no S3 and no environment.

One module per stage: source (open and sniff; heif for HEIC), limits (pixel and memory checks
before decoding), colour (modes, bit depth, ICC), geometry (orientation, downscale, fit; crop
for smart gravity), encode; pipeline runs them in order.
"""

from lambda_handler.thumbnail.geometry import DRAFT_GAP, REDUCING_GAP
from lambda_handler.thumbnail.model import (
    CONTENT_TYPES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    DEFAULT_RUNTIME_BASELINE_MB,
    EXTENSIONS,
    FITS,
    GRAVITIES,
    OUTPUT_FORMATS,
    Rendering,
    SourceInfo,
    Thumbnail,
    ThumbnailError,
)
from lambda_handler.thumbnail.pipeline import make_thumbnails, render
from lambda_handler.thumbnail.source import INPUT_FORMATS

__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "DEFAULT_RUNTIME_BASELINE_MB",
    "DRAFT_GAP",
    "EXTENSIONS",
    "FITS",
    "GRAVITIES",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "REDUCING_GAP",
    "Rendering",
    "SourceInfo",
    "Thumbnail",
    "ThumbnailError",
    "make_thumbnails",
    "render",
]
