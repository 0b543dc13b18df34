"""moto's server, with the one piece of AWS behaviour the local stack relies on that moto leaves out:
Glue `UpdateTable` honours `VersionId` (optimistic concurrency). Iceberg's Glue catalog commits
by updating the table's metadata pointer with the `VersionId` it read; AWS refuses the update with
`ConcurrentModificationException` when another commit landed in between, so the loser recomputes.
moto accepts any `VersionId`: two concurrent commits could both succeed and one be silently lost.

And one change of speed, not of behaviour: moto serializes a DynamoDB answer by walking the
operation's shape attribute by attribute (~2.8 ms of CPU per item of 20 attributes: a query of
10,000 index items took 28 s of the emulator's CPU, the largest cost in the test suite). The items
of the data-plane answers are already in DynamoDB's JSON form, so they are written with `json`.
`ARCHIVEFLOW_MOTO_CHECK_FAST_JSON=1` computes both and fails a request whose answers differ
(`tests/integration/test_moto_server.py` runs with it). Likewise moto decodes an `aws-chunked`
upload body (pyarrow's S3 client sends its parts so) by appending chunk after chunk to one bytes
object, quadratic in the part's size; here the chunks are joined once (the emulator's CPU per 1M
rows archived by rdbms_archival, ~27 MB of Parquet: 0.9-1.2 s before, 0.5-0.6 s after).

    python -m devstack.moto_server -H 127.0.0.1 -p 5000     (moto_server's own arguments)
"""

from __future__ import annotations

import base64
import calendar
import io
import json
import os
import threading
from datetime import datetime
from decimal import Decimal

from moto.dynamodb.responses import DynamoResult
from moto.glue.exceptions import GlueClientError
from moto.glue.responses import GlueResponse
from moto.s3.responses import S3Response
from moto.server import main


class ConcurrentModificationException(GlueClientError):
    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentModificationException", message)


_update_table = GlueResponse.update_table
_updates = threading.Lock()  # the server is threaded: check and update as one step


def update_table(self: GlueResponse):
    expected = self.parameters.get("VersionId")
    if expected is None:
        return _update_table(self)
    with _updates:
        name = self.parameters["TableInput"]["Name"]
        current = self.glue_backend.get_table(self.parameters["DatabaseName"], name).as_dict()["VersionId"]
        if str(expected) != str(current):
            raise ConcurrentModificationException(
                f"Update table {name} failed due to concurrent modifications: version {expected} is not "
                f"the current version {current}")
        return _update_table(self)


GlueResponse.update_table = update_table

# The answers whose shape is items and counts: every value is a string, number, bool, list or map
# except a binary (bytes: base64, as the serializer does) and a timestamp (none in these answers).
DATA_PLANE = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
                        "BatchWriteItem", "TransactGetItems", "TransactWriteItems"})
CHECK_FAST_JSON = os.environ.get("ARCHIVEFLOW_MOTO_CHECK_FAST_JSON") == "1"
_serialize_by_shape = DynamoResult.execute_result


def _json_value(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return calendar.timegm(value.timetuple()) + value.microsecond // 1000 / 1000
    raise TypeError(f"no JSON form for {type(value).__name__}")


def execute_result(self: DynamoResult, context):
    if context.operation_model.name not in DATA_PLANE or not isinstance(self.result, dict):
        return _serialize_by_shape(self, context)
    members = context.operation_model.output_shape.members  # moto adds a few of its own: AWS has no such key
    answer = {key: value for key, value in self.result.items() if key in members and value is not None}
    body = json.dumps(answer, default=_json_value, separators=(",", ":"))
    headers = {"Content-Type": "application/x-amz-json-" + context.service_model.metadata.get("jsonVersion", "1.0")}
    if CHECK_FAST_JSON:
        status, by_shape_headers, by_shape = _serialize_by_shape(self, context)
        if (status, by_shape_headers, json.loads(by_shape)) != (200, headers, json.loads(body)):
            raise AssertionError(f"{context.operation_model.name}: fast JSON {body[:500]} != {by_shape[:500]}")
        headers["x-archiveflow-fast-json"] = "checked"  # the test's proof that this path answered
    return 200, headers, body


DynamoResult.execute_result = execute_result


def handle_encoded_body(self: S3Response, body: io.BufferedIOBase | bytes) -> bytes:
    """moto's `_handle_encoded_body` (chunks of `<hex size>\r\n<data>\r\n` up to a 0-size one),
    the chunks joined once."""
    if not body:
        return b""
    if isinstance(body, bytes):
        body = io.BytesIO(body)
    chunks = []
    size = int(body.readline().strip(), 16)
    while size > 0:
        chunks.append(body.read(size))
        body.readline()  # the chunk's closing \r\n
        size = int(body.readline().strip(), 16)
    return b"".join(chunks)


S3Response._handle_encoded_body = handle_encoded_body

if __name__ == "__main__":
    main()
