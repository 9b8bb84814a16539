# Huizong on Airflow: the official image plus the locked dependencies and the project code.
# Used by docker-compose.yml (every airflow-* service). tests/deploy/ checks that the tag's
# Airflow version equals the apache-airflow pin in requirements/requirements.lock and that
# its Python is 3.11.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/huizong/data \
 && chown -R airflow:0 /opt/huizong \
 && chmod -R g+rwX /opt/huizong

USER airflow
WORKDIR /opt/huizong

# Dependencies first (own layer): the hashed lock; it pins apache-airflow==3.3.2, the
# image's own version, so pip keeps Airflow as shipped and fails if the two ever disagree.
COPY --chown=airflow:0 requirements/requirements.lock requirements/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/requirements.lock \
 && python -c "import airflow, sys; v = airflow.__version__; sys.exit(0 if v == '3.3.2' else f'airflow {v} != 3.3.2')"

# The project: what .dockerignore lets through (pyproject.toml, README.md, pipelines/, dags/,
# plugins/, expectations/, warehouse/). pipelines/ finds expectations/ and warehouse/schema/
# next to itself, so it runs from /opt/huizong (on PYTHONPATH) rather than site-packages.
COPY --chown=airflow:0 . ./
RUN mkdir -p dags plugins data

ENV PYTHONPATH=/opt/huizong \
    HUIZONG_HOME=/opt/huizong/data \
    GX_ANALYTICS_ENABLED=False \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/huizong/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/huizong/plugins

# Fail the build, not the first DAG run, if the executor's or the project's imports break.
RUN python -c "import airflow.providers.celery, redis, psycopg, s3fs, pipelines.settings, pipelines.ingest.process" \
 && python -m compileall -q pipelines dags
