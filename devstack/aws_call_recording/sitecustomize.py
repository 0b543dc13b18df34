"""On PYTHONPATH only while the tests record AWS calls (tests/conftest.py): every Python process
the tests start (Airflow components, tasks, Batch workers) records its calls too."""

from devstack import aws_calls

aws_calls.install()
