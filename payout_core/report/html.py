"""The HTML body of the iteration email: inline styles (Outlook, Gmail), every value escaped."""

from __future__ import annotations

import html
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

# --- HTML ---------------------------------------------------------------------------------
# Outlook (Word engine) ignores <style> blocks and most CSS; Gmail strips <style> in some
# clients. So: tables for layout, inline styles only, `align` attributes as a fallback.

FONT = "font-family:Segoe UI,Arial,Helvetica,sans-serif;"
TABLE_STYLE = FONT + "border-collapse:collapse;font-size:13px;color:#1f2328;margin:0;"
HEADER_CELL_STYLE = (
    "background-color:#f0f3f6;border:1px solid #d0d7de;padding:6px 10px;font-weight:bold;"
)
CELL_STYLE = "border:1px solid #d0d7de;padding:6px 10px;"
TOTAL_CELL_STYLE = CELL_STYLE + "font-weight:bold;border-top:2px solid #1f2328;"
AMOUNT_STYLE = "text-align:right;white-space:nowrap;"
TEXT_STYLE = "text-align:left;"
HEADING_STYLE = FONT + "font-size:16px;color:#1f2328;margin:20px 0 8px 0;"
PARAGRAPH_STYLE = (
    FONT + "font-size:13px;color:#1f2328;margin:0 0 12px 0;max-width:720px;overflow-wrap:anywhere;"
)
SCROLL_STYLE = "max-width:100%;overflow-x:auto;-webkit-overflow-scrolling:touch;margin:0 0 16px 0;"
WARNING_STYLE = FONT + "font-size:13px;color:#9a1c1c;font-weight:bold;margin:0 0 12px 0;"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _html_cell(tag: str, text: str, base_style: str, right_aligned: bool) -> str:
    align = "right" if right_aligned else "left"
    style = base_style + (AMOUNT_STYLE if right_aligned else TEXT_STYLE)
    return f'<{tag} align="{align}" style="{style}">{_escape(text)}</{tag}>'


def html_table(table: Table) -> str:
    def row_html(row: Sequence[str], tag: str, style: str) -> str:
        cells = "".join(
            _html_cell(tag, cell, style, column in table.right_aligned)
            for column, cell in enumerate(row)
        )
        return f"<tr>{cells}</tr>"

    body = [row_html(row, "td", CELL_STYLE) for row in table.rows]
    if table.total:
        body.append(row_html(table.total, "td", TOTAL_CELL_STYLE))
    # A wide table scrolls inside its own box on a narrow mail client (a phone's 400 px)
    # instead of widening the whole message; clients that drop overflow still show it whole.
    return (
        f'<div style="{SCROLL_STYLE}">'
        f'<table role="table" cellpadding="0" cellspacing="0" border="0" style="{TABLE_STYLE}">'
        f"<thead>{row_html(table.headers, 'th', HEADER_CELL_STYLE)}</thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _paragraph(text: str, style: str = PARAGRAPH_STYLE) -> str:
    return f'<p style="{style}">{_escape(text)}</p>'


def _heading(text: str) -> str:
    return f'<h2 style="{HEADING_STYLE}">{_escape(text)}</h2>'


def _html_block(block: Block) -> str:
    if isinstance(block, Table):
        return html_table(block)
    if isinstance(block, Link):
        if not block.url.startswith(("https://", "http://")):
            return _paragraph(f"{block.text} {block.url}")
        url = _escape(block.url)
        return (
            f'<p style="{PARAGRAPH_STYLE}">{_escape(block.text)} '
            f'<a href="{url}" style="color:#0969da;">{url}</a></p>'
        )
    return _paragraph(block)


def render_html(report: IterationReport) -> str:
    parts = [
        f'<h1 style="{FONT}font-size:20px;color:#1f2328;margin:0 0 8px 0;">'
        f"{_escape(f'ShiftPay payouts — iteration {report.iteration_number}')}</h1>",
        _paragraph(headline(report)),
        *(_paragraph(f"Warning: {warning}", WARNING_STYLE) for warning in report.warnings()),
        _heading("Success summary"),
        *(
            [html_table(summary_table(report)), *map(_paragraph, summary_notes(report))]
            if report.summary_lines
            else [_paragraph(NO_PAID_LEADS_SENTENCE)]
        ),
        _heading("Per-file accounting"),
        *(
            [html_table(accounting_table(report)), _paragraph(ACCOUNTING_NOTE)]
            if report.runs
            else [_paragraph("No MIS files were processed in this iteration.")]
        ),
        *(_paragraph(note) for note in report.same_content_notes()),
        _heading(adjustments.SECTION_TITLE),
        *(
            [
                html_table(adjustments.adjustments_table(report.adjustment_lines)),
                _paragraph(adjustments.NOTE),
            ]
            if report.adjustment_lines
            else [_paragraph(adjustments.NO_ADJUSTMENTS_SENTENCE)]
        ),
        _heading("Errors"),
    ]
    if report.errors:
        parts.append(html_table(errors_table(report)))
        note = errors_left_out_note(report)
        if note:
            parts.append(_paragraph(note))
    else:
        parts.append(_paragraph(NO_ERRORS_SENTENCE))
    if report.cycle is not None:
        parts.append(_heading(report.cycle.title))
        parts += [_html_block(block) for block in report.cycle.blocks()]
    if report.reconciliation is not None:
        parts.append(_heading(report.reconciliation.title))
        parts += [_html_block(block) for block in report.reconciliation.blocks()]
    parts.append(_heading("Attachments"))
    parts += [_paragraph(note) for note in report.attachment_notes()]
    content = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(report.subject())}</title></head>\n"
        '<body style="margin:0;padding:0;background-color:#ffffff;">\n'
        # Fixed layout: the page is as wide as the client, never as wide as a table in it
        # (each table scrolls in its own box), so a phone's mail app need not zoom out.
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        ' style="table-layout:fixed;width:100%;">'
        '<tr><td style="padding:16px;">\n'
        f"{content}\n"
        "</td></tr></table>\n</body></html>\n"
    )
