"""The payin/payout rules (SPEC §3.2): each load a new version, the newest in force.

A rule's parameters are kept by name in one jsonb object (migration 008), as exact
numbers: a product that declares a parameter no product had needs no migration.
"""

from __future__ import annotations

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import rules
from payout_core.engine.products import all_rule_parameters

INSERT_RULE = """
INSERT INTO payin_payout_rules (rule_set_version, row_number, source_type, medium_type,
                                product_type, kpi_start_date, kpi_end_date, parameters,
                                success_criteria)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def new_version(
    conn: psycopg.Connection,
    sets_table: str,
    version_column: str,
    *,
    source: str,
    content_sha256: str,
) -> tuple[int, bool]:
    """The version in force after loading a rules file (`sets_table`: rule_sets or
    incentive_rule_sets) and whether it is new: a file whose content is the newest
    version's stays that version.
    Loads of one kind wait for each other, so two never take the same number."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"payout.{sets_table}",))
    current = conn.execute(
        f"SELECT {version_column}, content_sha256 FROM {sets_table}"
        f" ORDER BY {version_column} DESC LIMIT 1"
    ).fetchone()
    if current and current[1] == content_sha256:
        return current[0], False
    version = (current[0] if current else 0) + 1
    conn.execute(
        f"INSERT INTO {sets_table} ({version_column}, source_file, content_sha256)"
        " VALUES (%s, %s, %s)",
        (version, source, content_sha256),
    )
    return version, True


def load_rules(
    conn: psycopg.Connection, loaded: list[rules.PayinPayoutRule], source: str, content_sha256: str
) -> str:
    """The file becomes the new version in force; earlier versions stay for history."""
    version, is_new = new_version(
        conn, "rule_sets", "rule_set_version", source=source, content_sha256=content_sha256
    )
    if not is_new:
        return f"rules: unchanged, version {version} stays in force"
    with conn.cursor() as cursor:
        cursor.executemany(
            INSERT_RULE,
            [
                (
                    version,
                    rule.row_number,
                    *rule.key,
                    rule.kpi_start_date,
                    rule.kpi_end_date,
                    _parameters_json(rule),
                    rule.success_criteria,
                )
                for rule in loaded
            ],
        )
    return f"rules: version {version} in force, {len(loaded)} rule(s) from {source}"


def active_rules(conn: psycopg.Connection, product_type: str) -> pl.DataFrame:
    """The product's rules in force, in the calculation's integer units (the same scales
    as rules.rules_frame); a parameter a rule does not hold is 0 (not used)."""
    query = sql.SQL(
        "SELECT rule_id, source_type, medium_type, product_type, kpi_start_date, kpi_end_date"
        "{} FROM payin_payout_rules"
        " WHERE rule_set_version = (SELECT max(rule_set_version) FROM rule_sets)"
        " AND product_type = %s"
    ).format(
        sql.SQL("").join(
            sql.SQL(", (coalesce((parameters ->> {})::numeric, 0) * {})::bigint").format(
                sql.Literal(parameter.name), sql.Literal(parameter.kind.scale)
            )
            for parameter in all_rule_parameters()
        )
    )
    rows = conn.execute(query, (product_type,)).fetchall()
    return pl.DataFrame(rows, schema=rules.rule_frame_schema(), orient="row")


def _parameters_json(rule: rules.PayinPayoutRule) -> str:
    """The rule's parameters as a JSON object of exact numbers: each Decimal written as its
    own digits (jsonb keeps JSON numbers as numeric, exactly), never through a float."""
    return "{" + ",".join(f'"{name}":{value}' for name, value in rule.parameters.items()) + "}"
