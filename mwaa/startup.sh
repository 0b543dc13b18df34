#!/usr/bin/env bash
# archiveflow's MWAA startup script (the `startup.sh` object of the environment's bucket).
# MWAA sources it in every container (scheduler, workers, web server) before Airflow starts and
# before requirements.txt is installed; it must finish within 5 minutes and may not set MWAA's
# protected variables (MWAA__*, AIRFLOW_HOME, PYTHONPATH, AWS_REGION, AIRFLOW__API__BASE_URL, ...).
# All it has to do: say where include/ is (SQL, config files), since MWAA syncs only the dags
# prefix and plugins.zip and include/ travels in the dags prefix (archiveflow.paths).
export ARCHIVEFLOW_INCLUDE_DIR="${AIRFLOW_HOME:-/usr/local/airflow}/dags/include"
echo "archiveflow startup: include/ at ${ARCHIVEFLOW_INCLUDE_DIR}"
