#!/usr/bin/env bash
# Creates one database and one login per diversion service; each login owns its database and no
# other login may connect to it. The postgres image runs this once, on an empty data volume.
set -euo pipefail

create_service_database() {
    local name="$1" password="$2"
    # psql variables quote the name (:"name") and the password (:'password'), so a password with
    # quotes in it cannot break or extend the statement.
    psql --set=ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
}

create_service_database intake "${DIVERSION_INTAKE_DB_PASSWORD:-intake-local}"
create_service_database casework "${DIVERSION_CASEWORK_DB_PASSWORD:-casework-local}"
create_service_database resources "${DIVERSION_RESOURCES_DB_PASSWORD:-resources-local}"
create_service_database notifications "${DIVERSION_NOTIFICATIONS_DB_PASSWORD:-notifications-local}"
