"""moto's server, with the one piece of AWS behaviour the local stack relies on that moto leaves out:
Glue `UpdateTable` honours `VersionId` (optimistic concurrency). Iceberg's Glue catalog commits
by updating the table's metadata pointer with the `VersionId` it read; AWS refuses the update with
`ConcurrentModificationException` when another commit landed in between, so the loser recomputes.
moto accepts any `VersionId`: two concurrent commits could both succeed and one be silently lost.

    python -m devstack.moto_server -H 127.0.0.1 -p 5000     (moto_server's own arguments)
"""

from __future__ import annotations

import threading

from moto.glue.exceptions import GlueClientError
from moto.glue.responses import GlueResponse
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

if __name__ == "__main__":
    main()
