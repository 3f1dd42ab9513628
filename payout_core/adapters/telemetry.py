"""OpenTelemetry for the app: everything it sends to Azure Monitor is decided here.

- One trace per file: `file_work` opens the file's span (its inbox and name as
  attributes), and each stage of StageClock (read, lookup, calculate, csv, write,
  mark_paid, publish, ...) is a span inside it, on whichever thread ran it (the pipeline's
  read-ahead thread runs in a copy of the file's context).
- Metrics: rows by outcome, payin and payout, files refused and poisoned, holds waiting
  and the age of the oldest, credits sent and failed, the reconciliation discrepancies,
  and every run of the summary job. Azure Monitor stores them in `customMetrics`
  (`AppMetrics` in the workspace), where infra/alerts.bicep reads them.
- Every log line of a unit of work carries its file name (`payout.file`, `payout.inbox`)
  or iteration number (`payout.iteration`) as attributes: a log-record factory copies
  them from a context variable, so any handler (Azure Monitor's, the Functions worker's,
  a test's) sees them.

The call sites elsewhere are one line each. With no SDK configured (tests that do not
install one, `payout` commands) every call is OpenTelemetry's no-op.

Exporting: in Azure the Python worker configures azure-monitor-opentelemetry itself
(PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true, set by infra, so that the host does not
log every line twice) and `configure` leaves it alone; anywhere else with
APPLICATIONINSIGHTS_CONNECTION_STRING set, `configure` does it once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from opentelemetry import metrics, trace

log = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "shiftpay.payout"
CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"

# Attribute names, on spans and log lines alike (the alerts' queries name them too).
FILE = "payout.file"
INBOX = "payout.inbox"
ITERATION = "payout.iteration"
OUTCOME = "payout.outcome"
PRODUCT = "payout.product"
RESULT = "payout.result"

# A poison message is work on a file too, under this inbox name.
POISON_WORK = "poison"
# Reconciliation outcomes that are discrepancies (SPEC §9; ledger/reconciliation_rows.py).
REMITTANCE_DISCREPANCIES = ("short", "over", "unexpected", "duplicate", "invalid")
# The money a file's result states (`total_<kind>` in its to_json), exact decimal text.
MONEY_KINDS = ("payin", "payout", "received")


class FileResult(Protocol):
    def to_json(self) -> dict[str, object]: ...


# --- exporting ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def configure() -> bool:
    """Azure Monitor's OpenTelemetry distro, once per process, when the app has an
    Application Insights connection string and nothing configured OpenTelemetry before
    (the Functions worker does, before our code runs). Returns whether this call did."""
    if not os.environ.get(CONNECTION_STRING_SETTING, "").strip():
        return False
    if _sdk_installed():
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor()
    log.info("OpenTelemetry: exporting to Azure Monitor")
    return True


def _sdk_installed() -> bool:
    """A real TracerProvider is installed (the API's default is a proxy until one is)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _tracer() -> trace.Tracer:
    return trace.get_tracer(INSTRUMENTATION_NAME)


class _Instruments:
    """Each instrument created once (the SDK warns when a name is created again); from the
    API's proxy meter when no SDK is installed yet, which follows one installed later."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.rows = meter.create_counter("payout.rows", description="file rows by outcome")
        self.money = {
            kind: meter.create_up_down_counter(
                f"payout.{kind}_minor_units",
                unit="1/100 currency unit",
                description=f"net {kind} of the files recorded",
            )
            for kind in MONEY_KINDS
        }
        self.refused = meter.create_counter(
            "payout.files.refused", description="files refused, recorded and moved aside"
        )
        self.poisoned = meter.create_counter(
            "payout.files.poisoned", description="files that failed on every attempt"
        )
        self.discrepancy_rows = meter.create_counter(
            "payout.reconciliation.discrepancy_rows", description="remittance rows not matched"
        )
        self.discrepancies = meter.create_gauge(
            "payout.reconciliation.discrepancies",
            description="discrepancies in the latest iteration's reconciliation",
        )
        self.credits_sent = meter.create_counter(
            "payout.credits.sent", description="wallet credits sent"
        )
        self.credits_failed = meter.create_counter(
            "payout.credits.failed", description="wallet credits the wallet team failed"
        )
        self.holds_waiting = meter.create_gauge(
            "payout.holds.waiting", description="held events awaiting a decision"
        )
        self.oldest_hold_age = meter.create_gauge(
            "payout.holds.oldest_age_days", unit="d", description="age of the oldest hold"
        )
        self.summary_runs = meter.create_counter(
            "payout.summary.runs", description="runs of the iteration summary job"
        )


@lru_cache(maxsize=1)
def _instruments() -> _Instruments:
    return _Instruments(metrics.get_meter(INSTRUMENTATION_NAME))


# --- log lines carry the work's attributes -----------------------------------------------

_work: ContextVar[dict[str, object] | None] = ContextVar("payout_work", default=None)


def _install_log_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "payout_work_attributes", False):
        return  # already installed (the module was imported again)

    def record_with_work_attributes(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for name, value in (_work.get() or {}).items():
            setattr(record, name, value)
        return record

    record_with_work_attributes.payout_work_attributes = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_work_attributes)


_install_log_record_factory()


@contextmanager
def _unit_of_work(span_name: str, attributes: dict[str, object]) -> Iterator[trace.Span]:
    configure()
    token = _work.set(dict(attributes))
    try:
        with _tracer().start_as_current_span(span_name, attributes=attributes) as span:
            yield span
    finally:
        _work.reset(token)


def _work_attribute(name: str) -> object | None:
    return (_work.get() or {}).get(name)


def _note(name: str, value: object) -> None:
    """One more attribute for the rest of the current unit of work (its span and logs)."""
    attributes = _work.get()
    if attributes is not None:
        attributes[name] = value
    trace.get_current_span().set_attribute(name, value)  # type: ignore[arg-type]


# --- traces ------------------------------------------------------------------------------


@contextmanager
def file_work(inbox: str, blob_path: str) -> Iterator[None]:
    """One file's unit of work (`container/name` or a bare name): the root of its trace."""
    file_name = blob_path.partition("/")[2] or blob_path
    with _unit_of_work(f"{inbox} file", {INBOX: inbox, FILE: file_name}):
        yield


@contextmanager
def stage(name: str) -> Iterator[None]:
    """One stage of a file (StageClock.stage): a span in the file's trace."""
    with _tracer().start_as_current_span(name):
        yield


@contextmanager
def iteration_work() -> Iterator[None]:
    """One run of the summary job; `iteration_reported` names its iteration. Each run
    counts in `payout.summary.runs` (result `ran` or `failed`): the signal of the
    'cycle not closed on schedule' alert."""
    result = "failed"
    try:
        with _unit_of_work("iteration summary", {}):
            yield
            result = "ran"
    finally:
        _instruments().summary_runs.add(1, {RESULT: result})


# --- metrics -----------------------------------------------------------------------------


def file_processed(result: FileResult) -> None:
    """A file of the current work was recorded: its rows by outcome, and its money."""
    instruments = _instruments()
    inbox = str(_work_attribute(INBOX) or "unknown")
    described = result.to_json()
    outcomes: Mapping[str, int] = described.get("outcomes") or {}  # type: ignore[assignment]
    product = getattr(result, "product_type", None)
    base = {INBOX: inbox} | ({PRODUCT: product} if product else {})
    for outcome, count in outcomes.items():
        instruments.rows.add(count, base | {OUTCOME: outcome})
    for kind in MONEY_KINDS:
        if described.get(f"total_{kind}") is not None:
            instruments.money[kind].add(_minor_units(described[f"total_{kind}"]), base)
    if inbox == "remittance":
        discrepancies = sum(outcomes.get(outcome, 0) for outcome in REMITTANCE_DISCREPANCIES)
        instruments.discrepancy_rows.add(discrepancies, base)
    if inbox == "wallet_confirmation":
        instruments.credits_failed.add(outcomes.get("failed", 0), base)


def file_refused() -> None:
    """The current work's file was recorded and moved aside: refused, or (in the poison
    handler's work) failed on every attempt."""
    inbox = str(_work_attribute(INBOX) or "unknown")
    counter = _instruments().poisoned if inbox == POISON_WORK else _instruments().refused
    counter.add(1, {INBOX: inbox})


def iteration_reported(iteration_report: object) -> None:
    """The summary job reported an iteration: its number on the rest of the work, the
    cycle's credits sent and the reconciliation's discrepancies."""
    number = getattr(iteration_report, "iteration_number", None)
    if number is not None:
        _note(ITERATION, number)
    cycle = getattr(iteration_report, "cycle", None)
    if cycle is not None:
        _instruments().credits_sent.add(cycle.credit_count)
    reconciliation = getattr(iteration_report, "reconciliation", None)
    if reconciliation is not None:
        _instruments().discrepancies.set(reconciliation.discrepancy_count)


def holds_waiting(count: int, oldest_held_at: datetime | None) -> None:
    """Events awaiting a person's decision, and how long the oldest has waited (days)."""
    age_days = 0.0
    if oldest_held_at is not None:
        age_days = (datetime.now(UTC) - oldest_held_at).total_seconds() / 86_400
    _instruments().holds_waiting.set(count)
    _instruments().oldest_hold_age.set(age_days)



def _minor_units(amount: object) -> int:
    """Exact money (a Decimal or its text) as integer hundredths: metrics carry no floats
    of money."""
    return int(Decimal(str(amount)).scaleb(2).to_integral_value())
