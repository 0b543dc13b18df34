"""Which failures are a service's rather than the data's: a retry later may pass, and the records
involved are not to blame (sensor_pipeline does not count such a try against its batch)."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from archiveflow.errors import TransientServiceError

# Error codes of a service that is throttling or momentarily unavailable (its HTTP status may be 400).
UNAVAILABLE_CODES = {"Throttling", "ThrottlingException", "ProvisionedThroughputExceededException",
                     "RequestLimitExceeded", "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError",
                     "InternalFailure", "KMSThrottlingException"}


def service_unavailable(error: BaseException) -> bool:
    if isinstance(error, TransientServiceError | ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        response = error.response
        return (response.get("Error", {}).get("Code") in UNAVAILABLE_CODES
                or response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500)
    return False
