"""The plain-text alternative of the iteration email."""

from __future__ import annotations

from collections.abc import Sequence

from payout_core.report import adjustments
from payout_core.report.model import IterationReport
from payout_core.report.shapes import Block, Link, Table
from payout_core.report.tables import (
    ACCOUNTING_NOTE,
    NO_ERRORS_SENTENCE,
    NO_PAID_LEADS_SENTENCE,
    accounting_table,
    errors_left_out_note,
    errors_table,
    headline,
    summary_notes,
    summary_table,
)

# --- plain text ---------------------------------------------------------------------------


def text_table(table: Table) -> str:
    all_rows = [table.headers, *table.rows, *([table.total] if table.total else [])]
    widths = [max(len(row[column]) for row in all_rows) for column in range(len(table.headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if column in table.right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [line(table.headers), rule, *(line(row) for row in table.rows)]
    if table.total:
        lines += [rule, line(table.total)]
    return "\n".join(lines)


def _text_block(block: Block) -> str:
    if isinstance(block, Table):
        return text_table(block)
    if isinstance(block, Link):
        return f"{block.text} {block.url}"
    return block


def render_text(report: IterationReport) -> str:
    parts = [f"ShiftPay payouts — iteration {report.iteration_number}", "", headline(report)]
    for warning in report.warnings():
        parts += ["", f"WARNING: {warning}"]
    parts += ["", "Success summary", ""]
    if report.summary_lines:
        parts.append(text_table(summary_table(report)))
        parts += ["", *summary_notes(report)]
    else:
        parts.append(NO_PAID_LEADS_SENTENCE)
    parts += ["", "Per-file accounting", ""]
    if report.runs:
        parts += [text_table(accounting_table(report)), "", ACCOUNTING_NOTE]
    else:
        parts.append("No MIS files were processed in this iteration.")
    parts += report.same_content_notes()
    parts += ["", adjustments.SECTION_TITLE, ""]
    if report.adjustment_lines:
        parts += [text_table(adjustments.adjustments_table(report.adjustment_lines)), ""]
        parts.append(adjustments.NOTE)
    else:
        parts.append(adjustments.NO_ADJUSTMENTS_SENTENCE)
    parts += ["", "Errors", ""]
    if report.errors:
        parts.append(text_table(errors_table(report)))
        note = errors_left_out_note(report)
        if note:
            parts.append(note)
    else:
        parts.append(NO_ERRORS_SENTENCE)
    if report.cycle is not None:
        parts += ["", report.cycle.title, ""]
        parts.append("\n\n".join(_text_block(block) for block in report.cycle.blocks()))
    if report.reconciliation is not None:
        parts += ["", report.reconciliation.title, ""]
        parts.append("\n\n".join(_text_block(block) for block in report.reconciliation.blocks()))
    parts += ["", "Attachments", ""]
    parts += [f"- {note}" for note in report.attachment_notes()]
    return "\n".join(parts) + "\n"
