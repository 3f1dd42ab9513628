"""What the app sends through OpenTelemetry, read back with the SDK's in-memory exporter and
reader (the real SDK, no mocks): real files through the real function bodies, on the
PostgreSQL and Azurite fixtures.

- one trace per file, its stages as spans (also those the read-ahead thread ran);
- the business metrics: rows by outcome and the money of a file, files refused, the
  summary's runs, credits sent, holds waiting and the age of the oldest;
- the file name (or the iteration) as attributes on every log line of that work, as the
  OpenTelemetry log exporter sends them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from azure.storage.blob import BlobServiceClient
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from payout_core.adapters import telemetry
from payout_core.errors import ConfigurationError
from payout_core.flows import process, reference_data, triggers
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db, holds
from payout_core.settings import Settings, get_settings
from tests.support.postgres import with_settings_read_again

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MIS_FILE = "bank_a_savings_account_2023-10-03.csv"
EXPECTED = json.loads((SAMPLES / "expected_outcomes.json").read_text())[MIS_FILE]
# The stages a file goes through, as pipeline.py times them (README "How a file is processed").
MIS_STAGES = {"read", "lookup", "calculate", "csv", "write", "mark_paid", "publish"}


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def metric_points(self) -> dict[str, list[tuple[dict[str, object], float]]]:
        """Every data point recorded since the last call, by metric name."""
        points: dict[str, list[tuple[dict[str, object], float]]] = {}
        data = self.metric_reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        points.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), point.value)
                        )
        return points


@pytest.fixture(scope="module")
def _sdk() -> Telemetry:
    """The OpenTelemetry SDK installed once (the API allows one provider per process)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    # Delta: each collection holds what was recorded since the previous one.
    delta = {Counter: AggregationTemporality.DELTA, UpDownCounter: AggregationTemporality.DELTA}
    metric_reader = InMemoryMetricReader(preferred_temporality=delta)
    metrics.set_meter_provider(MeterProvider(metric_readers=[metric_reader]))
    logs = InMemoryLogRecordExporter()
    return Telemetry(spans, metric_reader, logs)


@pytest.fixture
def otel(_sdk: Telemetry) -> Iterator[Telemetry]:
    _sdk.spans.clear()
    _sdk.metric_points()  # what earlier tests recorded
    _sdk.logs.clear()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(_sdk.logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logging.getLogger().addHandler(handler)
    previous_level = logging.getLogger("payout_core").level
    logging.getLogger("payout_core").setLevel(logging.INFO)
    try:
        yield _sdk
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("payout_core").setLevel(previous_level)


@pytest.fixture
def ledger(database_url: str, storage_env: Settings, tmp_state: Path, context: Context) -> Settings:
    reference_data.load_rules_file(context, SAMPLES / "payin_payout_rules.csv")
    reference_data.load_leads_file(context, SAMPLES / "leads.csv")
    return get_settings()


def _upload(settings: Settings, container: str, path: Path) -> str:
    client = BlobServiceClient.from_connection_string(settings.storage_connection_string or "")
    if not client.get_container_client(container).exists():
        client.create_container(container)
    client.get_blob_client(container, path.name).upload_blob(path.read_bytes(), overwrite=True)
    return f"{container}/{path.name}"


def _root(spans: list[ReadableSpan]) -> ReadableSpan:
    roots = [span for span in spans if span.parent is None]
    assert len(roots) == 1, [span.name for span in roots]
    return roots[0]


def _payout_log_records(otel: Telemetry) -> list[dict[str, object]]:
    """The attributes of each log line the app's own loggers sent through OpenTelemetry."""
    return [
        dict(data.log_record.attributes or {})
        for data in otel.logs.get_finished_logs()
        if str(data.instrumentation_scope.name).startswith("payout_core")
    ]


def test_an_mis_file_is_one_trace_with_its_stages_metrics_and_attributed_logs(
    ledger: Settings, otel: Telemetry
) -> None:
    blob_path = _upload(ledger, ledger.mis_container, SAMPLES / "mis" / MIS_FILE)

    result = triggers.handle_mis_blob(blob_path)
    assert result is not None

    spans = list(otel.spans.get_finished_spans())
    root = _root(spans)
    assert root.name == "mis file"
    assert root.attributes == {telemetry.INBOX: "mis", telemetry.FILE: MIS_FILE}
    # One trace: every span of the file, those of the read-ahead thread included.
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}
    assert {span.name for span in spans} >= MIS_STAGES
    span_ids = {span.context.span_id for span in spans}
    assert all(span.parent.span_id in span_ids for span in spans if span is not root)

    points = otel.metric_points()
    rows = {
        attributes[telemetry.OUTCOME]: value
        for attributes, value in points["payout.rows"]
        if attributes[telemetry.INBOX] == "mis"
    }
    assert rows == EXPECTED["outcome_counts"]
    assert sum(rows.values()) == EXPECTED["rows_read"]
    assert points["payout.payin_minor_units"] == [
        ({telemetry.INBOX: "mis", telemetry.PRODUCT: "Savings Account"},
         int(Decimal(EXPECTED["total_payin"]) * 100)),
    ]  # fmt: skip
    assert [value for _, value in points["payout.payout_minor_units"]] == [
        int(Decimal(EXPECTED["total_payout"]) * 100)
    ]

    records = _payout_log_records(otel)
    assert records, "the file's work logged nothing"
    assert all(record.get(telemetry.FILE) == MIS_FILE for record in records), records
    assert all(record.get(telemetry.INBOX) == "mis" for record in records)


def test_a_refused_file_counts_as_refused_and_its_lines_name_it(
    ledger: Settings, otel: Telemetry
) -> None:
    broken = SAMPLES / "mis_broken" / "bank_a_unknown_product.csv"
    blob_path = _upload(ledger, ledger.mis_container, broken)

    assert triggers.handle_mis_blob(blob_path) is None

    points = otel.metric_points()
    assert points["payout.files.refused"] == [({telemetry.INBOX: "mis"}, 1)]
    assert "payout.rows" not in points
    refusals = [r for r in _payout_log_records(otel) if r.get(telemetry.FILE) == broken.name]
    assert refusals, "no log line of the refusal names the file"
    assert _root(list(otel.spans.get_finished_spans())).attributes[telemetry.FILE] == broken.name


def test_the_summary_run_counts_credits_holds_and_names_its_iteration(
    ledger: Settings, otel: Telemetry, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    # Every event paying over 500 waits for a person: some credits go out, some wait.
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "500")
    context = with_settings_read_again(context)
    process.PROCESS.close()
    mis_blob = _upload(get_settings(), ledger.mis_container, SAMPLES / "mis" / MIS_FILE)
    triggers.handle_mis_blob(mis_blob)
    otel.spans.clear()
    otel.metric_points()
    otel.logs.clear()

    outcome = triggers.run_summary_timer(past_due=False)

    points = otel.metric_points()
    assert points["payout.summary.runs"] == [({telemetry.RESULT: "ran"}, 1)]
    assert [value for _, value in points["payout.credits.sent"]] == [outcome.cycle.credit_count]
    with context.reading() as conn:
        waiting = len(holds.list_holds(conn))
    assert waiting > 0
    assert points["payout.holds.waiting"] == [({}, waiting)]
    [(_, oldest_age_days)] = points["payout.holds.oldest_age_days"]
    assert 0 <= oldest_age_days < 0.1  # held moments ago
    root = _root(list(otel.spans.get_finished_spans()))
    assert root.name == "iteration summary"
    assert root.attributes[telemetry.ITERATION] == outcome.iteration_number
    # From the moment the iteration is known, the job's lines carry its number.
    lines = _payout_log_records(otel)
    numbered = [line for line in lines if line.get(telemetry.ITERATION) is not None]
    assert numbered, lines
    assert {line[telemetry.ITERATION] for line in numbered} == {outcome.iteration_number}


def test_a_failed_summary_run_counts_as_failed(
    ledger: Settings, otel: Telemetry, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM schema_migrations WHERE version = %s", (db.migration_scripts()[-1].name,)
        )
    with pytest.raises(ConfigurationError):
        triggers.run_summary_timer(past_due=False)
    assert otel.metric_points()["payout.summary.runs"] == [({telemetry.RESULT: "failed"}, 1)]


def test_the_workers_own_opentelemetry_is_left_as_it_is(
    _sdk: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In Azure the Python worker configures Azure Monitor before our code runs
    # (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY); configuring it again would send
    # everything twice. Here the test's SDK stands in for the worker's.
    installed = trace.get_tracer_provider()
    monkeypatch.setenv(telemetry.CONNECTION_STRING_SETTING, "InstrumentationKey=unused")
    telemetry.configure.cache_clear()
    try:
        assert telemetry.configure() is False
        assert trace.get_tracer_provider() is installed
    finally:
        telemetry.configure.cache_clear()
