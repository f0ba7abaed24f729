"""What the image code takes and gives: options, results, the error, and the constants."""

from __future__ import annotations

from dataclasses import dataclass, field

# One definition, shared with the function's settings and the CLI's (config has no Pillow).
# GRAVITIES: where `cover` crops, the centre or the most salient part (edges, saturation).
from lambda_handler.config import FITS, GRAVITIES, OUTPUT_FORMATS

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
# First entry is the one we write; the others are accepted as "same format" when naming outputs.
EXTENSIONS = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "png": (".png",),
    "webp": (".webp",),
    "avif": (".avif",),
}

DEFAULT_QUALITY = 85
DEFAULT_MAX_PIXELS = 50_000_000
# Resident memory of the Lambda Python runtime with boto3 and Pillow imported (measured ~55 MB).
DEFAULT_RUNTIME_BASELINE_MB = 64


class ThumbnailError(Exception):
    """An image that will never make thumbnails, however often it is retried.

    `kind` is a short class: "corrupt" (damaged or truncated), "unsupported" (a format we do
    not decode, e.g. PSD, or HEIC when the layer leaves pillow-heif out), "too_large" (over the
    pixel limit or the function's memory), "not_image" (not an image at all) or "internal" (an
    unexpected failure in the image code). The handler adds "too_slow" for work it stopped
    before the function's timeout. `reason` is one line for people.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Thumbnail:
    size: tuple[int, int]  # the configured box, e.g. (128, 128): names the output
    width: int
    height: int
    format: str  # "jpeg" | "png" | "webp" | "avif"
    content_type: str
    extension: str
    data: bytes = field(repr=False)

    @property
    def bytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class SourceInfo:
    format: str  # lower-case Pillow format, e.g. "jpeg", "gif", "heif"
    width: int  # as displayed, i.e. after EXIF orientation (or HEIF's irot/imir)
    height: int
    mode: str
    animated: bool  # several frames (or a HEIF with several images): we used one
    orientation: int  # the EXIF orientation we applied (1 for HEIF: its decoder rotates)
    decoded_width: int  # what was actually decoded (JPEG draft scale)
    decoded_height: int
    estimated_bytes: int  # our estimate of the decode's peak working memory


@dataclass(frozen=True)
class Rendering:
    source: SourceInfo
    thumbnails: list[Thumbnail]


@dataclass(frozen=True)
class Options:
    fit: str = "inside"
    gravity: str = "centre"
    output_format: str = "auto"
    quality: int = DEFAULT_QUALITY
    max_pixels: int = DEFAULT_MAX_PIXELS
    memory_limit_mb: int | None = None  # None: no memory check (e.g. outside Lambda)
    runtime_baseline_mb: int = DEFAULT_RUNTIME_BASELINE_MB
    longest_side: int = 0  # of all boxes: bounds the resize's intermediate image

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, not {self.fit!r}")
        if self.gravity not in GRAVITIES:
            raise ValueError(f"gravity must be one of {GRAVITIES}, not {self.gravity!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"output_format must be one of {OUTPUT_FORMATS}, not {self.output_format!r}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1-100, not {self.quality}")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, not {self.max_pixels}")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
