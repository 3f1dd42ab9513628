"""The payin/payout rules (SPEC §3.2): each load a new version, the newest in force."""

from __future__ import annotations

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import rules
from payout_core.engine.products import all_rule_parameters
from payout_core.errors import ConfigurationError


def _rule_fields() -> list[str]:
    """Columns of payin_payout_rules a rule is stored in (every product's parameters)."""
    return [name for name in rules.rule_columns().values()]


def load_rules(
    conn: psycopg.Connection, loaded: list[rules.PayinPayoutRule], source: str, content_sha256: str
) -> str:
    """The file becomes the new version in force; earlier versions stay for history."""
    rule_fields = _rule_fields()
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payout.rules'))")
        _check_rule_columns(cursor, rule_fields)
        current = cursor.execute(
            "SELECT rule_set_version, content_sha256 FROM rule_sets "
            "ORDER BY rule_set_version DESC LIMIT 1"
        ).fetchone()
        if current and current[1] == content_sha256:
            return f"rules: unchanged, version {current[0]} stays in force"
        version = (current[0] if current else 0) + 1
        cursor.execute(
            "INSERT INTO rule_sets (rule_set_version, source_file, content_sha256) "
            "VALUES (%s, %s, %s)",
            (version, source, content_sha256),
        )
        cursor.executemany(
            sql.SQL(
                "INSERT INTO payin_payout_rules (rule_set_version, row_number, {}) "
                "VALUES (%s, %s, {})"
            ).format(
                sql.SQL(", ").join(map(sql.Identifier, rule_fields)),
                sql.SQL(", ").join(sql.Placeholder() * len(rule_fields)),
            ),
            [
                (version, rule.row_number, *(getattr(rule, name) for name in rule_fields))
                for rule in loaded
            ],
        )
    return f"rules: version {version} in force, {len(loaded)} rule(s) from {source}"


def _check_rule_columns(cursor: psycopg.Cursor, rule_fields: list[str]) -> None:
    """A product whose rule parameter has no column yet needs its migration first."""
    present = {
        row[0]
        for row in cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'payin_payout_rules' AND table_schema = current_schema()"
        )
    }
    missing = [name for name in rule_fields if name not in present]
    if missing:
        raise ConfigurationError(
            f"the rules table has no column {', '.join(missing)}: a product declares a rule "
            "parameter that no migration has added yet"
        )


def active_rules(conn: psycopg.Connection, product_type: str) -> pl.DataFrame:
    """The product's rules in force, in the calculation's integer units (the same scales
    as rules.rules_frame)."""
    parameters = all_rule_parameters()
    query = sql.SQL(
        "SELECT rule_id, source_type, medium_type, product_type, kpi_start_date, kpi_end_date"
        "{} FROM payin_payout_rules"
        " WHERE rule_set_version = (SELECT max(rule_set_version) FROM rule_sets)"
        " AND product_type = %s"
    ).format(
        sql.SQL("").join(
            sql.SQL(", ({} * {})::bigint").format(
                sql.Identifier(parameter.name), sql.Literal(parameter.kind.scale)
            )
            for parameter in parameters
        )
    )
    rows = conn.execute(query, (product_type,)).fetchall()
    return pl.DataFrame(rows, schema=rules.rule_frame_schema(), orient="row")
