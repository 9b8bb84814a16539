-- Huizong warehouse database, created next to Airflow's metadata database.
--
-- Run once by the postgres image (/docker-entrypoint-initdb.d, as the superuser, with
-- psql) when the data volume is empty. Idempotent, so it can also be re-run by hand:
--   psql -v ON_ERROR_STOP=1 -U airflow -d airflow -f 10-huizong-warehouse.sql
--
-- Settings come from the container environment (psql \getenv, PostgreSQL >= 15):
--   WAREHOUSE_DB        database name            (default huizong)
--   WAREHOUSE_USER      owner role the app uses  (default huizong)
--   WAREHOUSE_PASSWORD  its password             (default huizong)
--   BI_READER_PASSWORD  password of bi_reader    (default bi_reader)
--
-- Privileges:
--   WAREHOUSE_USER owns the database and the schemas core and mart (the app creates
--   its tables there, see warehouse/schema/).
--   bi_reader may connect and SELECT what is in schema mart, now and later (default
--   privileges for tables the owner creates); nothing in core (it holds personal data),
--   nothing in public, no writes anywhere; its sessions in this database default to
--   read-only transactions, in Beijing time (timezone Asia/Shanghai: a report received at
--   14:24 reads 14:24, not 06:24 UTC).
--   bi_reader connects to this database only: every other database of the cluster that
--   exists when this runs (Airflow's metadata database among them) loses PUBLIC's CONNECT,
--   which is given back to its owner. PostgreSQL grants CONNECT to PUBLIC on every new
--   database: one created later needs the same REVOKE (run this script again).
\set ON_ERROR_STOP on

\set wh_db huizong
\set wh_user huizong
\set wh_password huizong
\set bi_password bi_reader
\getenv wh_db WAREHOUSE_DB
\getenv wh_user WAREHOUSE_USER
\getenv wh_password WAREHOUSE_PASSWORD
\getenv bi_password BI_READER_PASSWORD

-- Roles are cluster-wide: create them only when missing (an existing role is kept as is).
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'wh_user', :'wh_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'wh_user') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', 'bi_reader', :'bi_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bi_reader') \gexec

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'wh_db', :'wh_user', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'wh_db') \gexec

REVOKE ALL ON DATABASE :"wh_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"wh_db" TO :"wh_user";
GRANT CONNECT ON DATABASE :"wh_db" TO bi_reader;
ALTER ROLE bi_reader IN DATABASE :"wh_db" SET default_transaction_read_only = on;
ALTER ROLE bi_reader SET timezone = 'Asia/Shanghai';

-- Every other database: no CONNECT through PUBLIC (its owner keeps it).
SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', datname),
       format('GRANT CONNECT ON DATABASE %I TO %I', datname, pg_get_userbyid(datdba))
  FROM pg_database WHERE datallowconn AND datname NOT IN (:'wh_db', 'template1') \gexec

\connect :"wh_db"
\set ON_ERROR_STOP on

-- public: nobody but the owner (PostgreSQL 15 already took CREATE away; take USAGE too).
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS core AUTHORIZATION :"wh_user";
CREATE SCHEMA IF NOT EXISTS mart AUTHORIZATION :"wh_user";

-- core: nothing for anyone else.
REVOKE ALL ON SCHEMA core FROM PUBLIC;
REVOKE ALL ON SCHEMA core FROM bi_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA core FROM bi_reader;

-- mart: read-only for bi_reader, including tables created later by the owner
-- (FOR ROLE: default privileges apply to objects created by that role) or by an admin.
GRANT USAGE ON SCHEMA mart TO bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO bi_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"wh_user" IN SCHEMA mart GRANT SELECT ON TABLES TO bi_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO bi_reader;
