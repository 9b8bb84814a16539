#!/bin/sh
# One-shot MinIO set-up for Huizong (the minio-init service, image minio/mc).
# Creates the buckets named in $BUCKETS and an application user that may read and
# write them (the key the Airflow containers use as AWS_ACCESS_KEY_ID).
# Idempotent: safe to run on every `docker compose up`.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${BUCKETS:?}"
: "${S3_APP_ACCESS_KEY:?}" "${S3_APP_SECRET_KEY:?}"
MINIO_URL="${MINIO_URL:-http://minio:9000}"

mc alias set huizong "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"

for bucket in $BUCKETS; do
    mc mb --ignore-existing "huizong/$bucket"
    mc anonymous set none "huizong/$bucket"
done
# The raw archive is write-once by sha256: keep every version should one be overwritten.
case " $BUCKETS " in
    *" huizong-archive "*) mc version enable huizong/huizong-archive ;;
esac

if [ "$S3_APP_ACCESS_KEY" != "$MINIO_ROOT_USER" ]; then
    mc admin user add huizong "$S3_APP_ACCESS_KEY" "$S3_APP_SECRET_KEY"
    # attach fails when the policy is already attached (re-runs); check the outcome instead.
    mc admin policy attach huizong readwrite --user "$S3_APP_ACCESS_KEY" || true
    info="$(mc admin user info huizong "$S3_APP_ACCESS_KEY")"
    case "$info" in
        *readwrite*) ;;
        *) echo "minio-init: policy readwrite is not attached to $S3_APP_ACCESS_KEY" >&2; exit 1 ;;
    esac
fi

mc ls huizong
echo "minio-init: buckets ready: $BUCKETS"
