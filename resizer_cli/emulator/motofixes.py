"""Two places where moto differs from AWS in what this project relies on, put right.

- PutFunctionEventInvokeConfig replaces a function's asynchronous invocation settings on AWS
  (UpdateFunctionEventInvokeConfig changes only the fields it is given). moto appends a new
  entry on both, and its Get keeps answering the first, so a changed setting never shows.
  https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html
- UpdateFunctionConfiguration and UpdateFunctionCode change a function's LastModified on
  AWS ("the date and time that the function was last updated"); moto keeps its creation
  time. `resizer backfill` trusts records written after it.
- Deleting a key in a versioned bucket (no version id) leaves a delete marker, and S3 sends
  `s3:ObjectRemoved:DeleteMarkerCreated`; moto sends nothing. (DeleteObject on an unversioned
  bucket, and each key of DeleteObjects, do send `ObjectRemoved:Delete` in moto.)
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html

`tests/emulator/test_emulator_destinations.py` fails loudly if these moto internals move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.awslambda import models as lambda_models
from moto.core.utils import iso_8601_datetime_with_nanoseconds
from moto.s3 import notifications
from moto.s3.models import S3Backend

ORIGINAL_PUT_CONFIG = lambda_models.LambdaBackend.put_function_event_invoke_config
ORIGINAL_SET_DELETE_MARKER = S3Backend._set_delete_marker
ORIGINAL_UPDATE_CONFIGURATION = lambda_models.LambdaFunction.update_configuration
ORIGINAL_UPDATE_CODE = lambda_models.LambdaFunction.update_function_code
EXPECTED_PARAMETERS = {
    "LambdaFunction.update_configuration": ["self", "config_updates"],
    "LambdaFunction.update_function_code": ["self", "updated_spec"],
    "LambdaBackend.put_function_event_invoke_config": ["self", "function_name", "config"],
    "LambdaBackend.update_function_event_invoke_config": ["self", "function_name", "config"],
    "S3Backend._set_delete_marker": ["self", "bucket_name", "key_name"],
}


def _put_config(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    self.get_function(function_name).event_invoke_config = []
    return dict(ORIGINAL_PUT_CONFIG(self, function_name, config))


def _update_config(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    current = self.get_function(function_name).event_invoke_config
    merged = {**(current[0].config if current else {}), **config}
    return _put_config(self, function_name, merged)


def _touched(original: Any) -> Any:
    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        self.last_modified = iso_8601_datetime_with_nanoseconds()
        return result

    return update


@dataclass(frozen=True)
class _Marker:
    """What moto's event builder reads of a key; a delete marker has no size or ETag."""

    name: str
    etag: str = ""
    size: int = 0


def _set_delete_marker(self: Any, bucket_name: str, key_name: str) -> Any:
    marker = ORIGINAL_SET_DELETE_MARKER(self, bucket_name, key_name)
    notifications.send_event(
        self.account_id,
        notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
        self.get_bucket(bucket_name),
        _Marker(key_name),
    )
    return marker


def install() -> None:
    backend = lambda_models.LambdaBackend
    backend.put_function_event_invoke_config = _put_config  # type: ignore[method-assign]
    backend.update_function_event_invoke_config = _update_config  # type: ignore[method-assign]
    S3Backend._set_delete_marker = _set_delete_marker  # type: ignore[method-assign]
    fn = lambda_models.LambdaFunction
    fn.update_configuration = _touched(ORIGINAL_UPDATE_CONFIGURATION)  # type: ignore[method-assign]
    fn.update_function_code = _touched(ORIGINAL_UPDATE_CODE)  # type: ignore[method-assign]
