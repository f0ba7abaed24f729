"""Output key scheme, loop protection and environment parsing."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import unquote

import pytest

from lambda_handler.config import Config, ConfigError, parse_sizes
from lambda_handler.handler import is_transient
from lambda_handler.keys import (
    is_own_output,
    metadata_value,
    output_key,
    relative_key,
    result_key,
)


@pytest.mark.parametrize(
    "rel,fmt,expected",
    [
        ("a/b.gif", "jpeg", "thumbnails/128x128/a/b.jpg"),
        ("a/b.jpg", "jpeg", "thumbnails/128x128/a/b.jpg"),
        ("a/b.JPEG", "jpeg", "thumbnails/128x128/a/b.JPEG"),
        ("b.png", "png", "thumbnails/128x128/b.png"),
        ("b.png", "webp", "thumbnails/128x128/b.webp"),
        ("scan.tiff", "jpeg", "thumbnails/128x128/scan.jpg"),
        ("noext", "jpeg", "thumbnails/128x128/noext.jpg"),
        ("photo.v2", "png", "thumbnails/128x128/photo.v2.png"),
        ("dir.d/photo", "jpeg", "thumbnails/128x128/dir.d/photo.jpg"),
        ("été/a+b c.jpg", "jpeg", "thumbnails/128x128/été/a+b c.jpg"),
    ],
)
def test_output_key(rel: str, fmt: str, expected: str) -> None:
    assert output_key("thumbnails/", (128, 128), rel, fmt) == expected


def test_result_key_keeps_the_source_name() -> None:
    assert result_key("results/", "a/b.gif") == "results/a/b.gif.json"


def test_relative_key() -> None:
    assert relative_key("raw/a/b.jpg", "raw/") == "a/b.jpg"
    assert relative_key("raw/", "raw/") is None
    assert relative_key("raw/folder/", "raw/") is None
    assert relative_key("rawr/a.jpg", "raw/") is None
    assert relative_key("x.jpg", "") == "x.jpg"


def test_own_outputs_only_in_the_destination_bucket() -> None:
    assert is_own_output("b", "thumbnails/1x1/a.jpg", "b", "thumbnails/", "results/")
    assert is_own_output("b", "results/a.jpg.json", "b", "thumbnails/", "results/")
    assert not is_own_output("b", "raw/a.jpg", "b", "thumbnails/", "results/")
    assert not is_own_output("src", "thumbnails/a.jpg", "dst", "thumbnails/", "results/")


@pytest.mark.parametrize("key", ["raw/plain.jpg", "raw/a b/été+x%41.jpg", "raw/日本/写真.jpg"])
def test_metadata_value_is_ascii_and_reversible(key: str) -> None:
    value = metadata_value(key)
    assert value.isascii() and unquote(value) == key


def test_config_defaults() -> None:
    config = Config.from_env({})
    assert config == Config(
        dest_bucket=None,
        source_prefix="raw/",
        dest_prefix="thumbnails/",
        results_prefix="results/",
        sizes=((128, 128), (512, 512)),
        fit="inside",
        gravity="centre",
        output_format="auto",
        quality=85,
        max_pixels=50_000_000,
        cache_control="max-age=31536000,public",
        memory_mb=None,
    )


def test_config_from_values() -> None:
    config = Config.from_env(
        {
            "DEST_BUCKET": "dst",
            "SOURCE_PREFIX": "in",
            "DEST_PREFIX": "/out",
            "SIZES": "64X64, 300x200,64x64",
            "FIT": "COVER",
            "GRAVITY": "Smart",
            "OUTPUT_FORMAT": "jpg",
            "QUALITY": "70",
            "MAX_PIXELS": "1_000_000",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        }
    )
    assert config.dest_bucket == "dst" and config.source_prefix == "in/"
    assert config.dest_prefix == "out/" and config.sizes == ((64, 64), (300, 200))
    assert (config.fit, config.output_format, config.quality) == ("cover", "jpeg", 70)
    assert config.gravity == "smart"
    assert Config.from_env({"GRAVITY": "center"}).gravity == "centre"
    assert config.max_pixels == 1_000_000 and config.memory_mb == 1024
    assert Config.from_env({"SOURCE_PREFIX": ""}).source_prefix == ""


@pytest.mark.parametrize(
    "env",
    [
        {"SIZES": "128"},
        {"SIZES": "0x10"},
        {"SIZES": ","},
        {"FIT": "stretch"},
        {"GRAVITY": "north"},
        {"OUTPUT_FORMAT": "gif"},
        {"QUALITY": "101"},
        {"QUALITY": "high"},
        {"MAX_PIXELS": "0"},
        {"DEST_PREFIX": "same/", "RESULTS_PREFIX": "same"},
    ],
)
def test_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Config.from_env(env)


def test_parse_sizes_dedupes_in_order() -> None:
    assert parse_sizes("512x512,128x128,512x512") == ((512, 512), (128, 128))


def test_transient_classification() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": "x"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "GetObject",
        )

    assert is_transient(client_error("SlowDown", 503))
    assert is_transient(client_error("Whatever", 502))
    assert not is_transient(client_error("AccessDenied", 403))
    assert is_transient(ReadTimeoutError(endpoint_url="http://x"))
    assert is_transient(EndpointConnectionError(endpoint_url="http://x"))


def test_import_is_light() -> None:
    """boto3 is imported on first use, not when Lambda loads the module; pillow-heif (and its
    native libraries) only when a HEIF image arrives."""
    code = (
        "import sys, lambda_handler.handler; "
        "print('boto3' in sys.modules, 'botocore' in sys.modules, 'pillow_heif' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
