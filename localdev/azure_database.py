"""The app's own role on the Azure database, made by the deploying person (never deployed).

`azd deploy`'s predeploy hook (infra/hooks/predeploy.sh) runs `payout db migrate` as the
deploying person, the server's Entra administrator, then this module: it creates the
function app's managed identity as an Entra role that is not an administrator
(`pgaadauth_create_principal_with_oid`) and grants it what the app does and nothing
more: read, insert and update the ledger's rows, use its sequences and temporary tables.
No DDL, no DELETE, no TRUNCATE (the app never deletes a row); the append-only triggers
still refuse UPDATE on money.

    python -m localdev.azure_database --host H --database DB --admin NAME \\
        --app-role ROLE --app-object-id OBJECT_ID
"""

from __future__ import annotations

import argparse
import sys

import psycopg
from psycopg import sql

from payout_core.adapters import entra

# What the app does with the ledger (tests/integration/test_app_role.py runs the app's
# work as a role with exactly these grants).
APP_ROLE_GRANTS = (
    "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    # Bookkeeping, not money (migration 009): each close rewrites the events it left out.
    "GRANT DELETE ON events_outside_cycles TO {role}",
    # Tables a later migration creates (migrations run as this same administrator).
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
    " GRANT SELECT, INSERT, UPDATE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
)


def grant_app_role(conn: psycopg.Connection, role: str) -> None:
    """Grant `role` the app's privileges on the connected (migrated) database."""
    database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    with conn.transaction():
        for statement in APP_ROLE_GRANTS:
            conn.execute(
                sql.SQL(statement).format(
                    database=sql.Identifier(database), role=sql.Identifier(role)
                )
            )


def create_entra_role(conn: psycopg.Connection, role: str, object_id: str) -> bool:
    """The managed identity as a non-administrator Entra role (Azure's pgaadauth
    extension, in the `postgres` database). Returns False when it existed already."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists:
        return False
    conn.execute(
        "SELECT * FROM pgaadauth_create_principal_with_oid(%s, %s, 'service', false, false)",
        (role, object_id),
    )
    return True


def _connect(host: str, database: str, admin: str, token: str) -> psycopg.Connection:
    return psycopg.connect(
        host=host,
        port=5432,
        dbname=database,
        user=admin,
        password=token,
        sslmode="require",
        autocommit=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--admin", required=True, help="the Entra administrator's role name")
    parser.add_argument("--app-role", required=True, help="the managed identity's name")
    parser.add_argument("--app-object-id", required=True, help="its object (principal) id")
    args = parser.parse_args(argv)
    # The deploying person's token (az login / azd auth login), as `payout db migrate` had.
    token = entra.token_credential().get_token(entra.POSTGRES_TOKEN_SCOPE).token
    with _connect(args.host, "postgres", args.admin, token) as conn:
        created = create_entra_role(conn, args.app_role, args.app_object_id)
    with _connect(args.host, args.database, args.admin, token) as conn:
        grant_app_role(conn, args.app_role)
    state = "created" if created else "already there"
    print(f"database role {args.app_role} ({state}) granted the app's privileges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
