"""What the integration tests on the sample files share: the samples loaded into this
test's database, a plain query on it, and files processed by racing threads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import psycopg

from payout_core.flows import reference_data
from payout_core.flows.unit_of_work import Context
from payout_core.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "samples"
Result = TypeVar("Result")


def load_samples(context: Context) -> None:
    """samples/payin_payout_rules.csv and samples/leads.csv, as the operator loads them."""
    reference_data.load_rules_file(context, SAMPLES / "payin_payout_rules.csv")
    reference_data.load_leads_file(context, SAMPLES / "leads.csv")


def query(url: str, statement: str, *parameters: object) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, parameters).fetchall()


def race(process: Callable[[Path], Result], paths: Iterable[Path]) -> list[Result]:
    """`process` each path in its own thread, all at once; their results, in any order."""
    import threading

    results: list[Result] = []
    threads = [
        threading.Thread(target=lambda path=path: results.append(process(path))) for path in paths
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
