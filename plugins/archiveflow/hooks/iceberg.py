"""pyiceberg's Glue catalog, configured from an Airflow AWS connection.

The connection decides where Glue and S3 are: on AWS it has no endpoint and the execution
role's credentials; on the local stack its `endpoint_url` points at the emulator. Either way
the tables are the same Glue + S3 Iceberg tables Athena reads.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from archiveflow import resources
from archiveflow.hooks.client_settings import AwsClientSettings

if TYPE_CHECKING:
    from pyiceberg.catalog.glue import GlueCatalog


class IcebergCatalogHook(AwsBaseHook):
    """Hands out a pyiceberg `GlueCatalog` whose warehouse is the declared warehouse bucket."""

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "Iceberg (Glue catalog)"

    def __init__(self, aws_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        kwargs.setdefault("client_type", "glue")
        super().__init__(aws_conn_id=aws_conn_id, **kwargs)

    def catalog_properties(self) -> dict[str, str]:
        """Properties for the table files' S3 FileIO (the Glue client comes from the hook)."""
        return {"warehouse": f"s3://{resources.bucket('warehouse')}/",
                **AwsClientSettings.from_hook(self).pyiceberg_properties()}

    @cached_property
    def catalog(self) -> GlueCatalog:
        # Imported here: pyiceberg (and pyarrow, which it loads) is seconds of a cold process, and a
        # reader through DuckDB needs only the hook's Glue client.
        from pyiceberg.catalog.glue import GlueCatalog

        # The hook's Glue client carries the connection's endpoint, region, credentials and
        # botocore config (retries, timeouts), exactly like every other provider hook.
        return GlueCatalog("archiveflow", client=self.get_conn(), **self.catalog_properties())

    def get_catalog(self) -> GlueCatalog:
        return self.catalog
