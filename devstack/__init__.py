"""The embedded local stack: PostgreSQL, the moto AWS emulator and Airflow on one machine.

Not shipped to MWAA. `make up` / `make down` / `make status` call `python -m devstack`.
"""
