"""One AWS connection as the settings of clients that are not boto3: pyiceberg's FileIO, DuckDB's
S3 secret, and the environment of a subprocess (the Batch local runner). The credentials, region
and endpoint are resolved once by the provider's hook, as for every boto3 client."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import boto3
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


@dataclass(frozen=True)
class AwsClientSettings:
    access_key: str
    secret_key: str
    token: str | None
    region: str
    endpoint_url: str | None     # the connection's endpoint for every service (an emulator), if any
    s3_endpoint_url: str | None  # S3's own endpoint, if the connection sets one

    @classmethod
    def from_hook(cls, hook: AwsBaseHook) -> AwsClientSettings:
        credentials = hook.get_credentials()  # frozen, and masked in task logs
        # The connection's region, else the SDK's default (`hook.conn_region_name` would build a
        # whole boto3 client just to read it).
        region = hook.region_name or boto3.session.Session().region_name or "us-east-1"
        return cls(credentials.access_key, credentials.secret_key, credentials.token, region,
                   hook.conn_config.endpoint_url, hook.conn_config.get_service_endpoint_url("s3"))

    @classmethod
    def from_connection(cls, aws_conn_id: str | None) -> AwsClientSettings:
        return cls.from_hook(AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3"))

    def pyiceberg_properties(self) -> dict[str, str]:
        properties = {"s3.region": self.region, "s3.access-key-id": self.access_key,
                      "s3.secret-access-key": self.secret_key}
        if self.token:
            properties["s3.session-token"] = self.token
        if self.s3_endpoint_url:
            # Emulators serve buckets by path, not by virtual host.
            properties.update({"s3.endpoint": self.s3_endpoint_url, "s3.path-style-access": "true"})
        return properties

    def duckdb_s3_secret(self) -> dict[str, str]:
        """Options of DuckDB's `CREATE SECRET (TYPE s3, ...)`."""
        options = {"KEY_ID": self.access_key, "SECRET": self.secret_key, "REGION": self.region}
        if self.token:
            options["SESSION_TOKEN"] = self.token
        if self.s3_endpoint_url:
            parsed = urlparse(self.s3_endpoint_url)
            options.update(ENDPOINT=parsed.netloc, URL_STYLE="path", USE_SSL=str(parsed.scheme == "https").lower())
        return options

    def environment(self) -> dict[str, str]:
        """What the AWS SDKs of a child process read."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
               "AWS_DEFAULT_REGION": self.region}
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env
