"""botocore's Stubber on real boto3 clients: AWS-documented answers the emulator cannot give."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber


@pytest.fixture
def stub():
    """stub("s3") -> (a boto3 client, its active Stubber); every answer queued must be asked for."""
    stubbers = []

    def make(service: str):
        client = boto3.client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        stubbers.append(Stubber(client))
        stubbers[-1].activate()
        return client, stubbers[-1]

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()
