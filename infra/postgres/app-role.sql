-- The app's own PostgreSQL role, for its managed identity. Run by the Entra administrator (the
-- deploy pipeline's principal) after the expand migrations; idempotent:
--
--   PGPASSWORD=$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv) \
--   psql "host=<server>.postgres.database.azure.com dbname=postgres user=<admin name> sslmode=require" \
--        -v app_role=<function app name> -v app_oid=<its principal id> -v app_db=portal \
--        -f infra/postgres/app-role.sql
--
-- pgaadauth_create_principal_with_oid (in the postgres database) maps the role to the identity's
-- object id, so the app logs in as <function app name> with a token (DATABASE_AUTH=entra). The
-- role reads and writes rows but cannot change the schema: the migrations, run by the
-- administrator, own the tables.

\set ON_ERROR_STOP on

SELECT pgaadauth_create_principal_with_oid(:'app_role', :'app_oid', 'service', false, false)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role');

\connect :app_db

GRANT CONNECT ON DATABASE :"app_db" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO :"app_role";

-- What later migrations create (as this administrator) gets the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO :"app_role";
