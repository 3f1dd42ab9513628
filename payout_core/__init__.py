"""ShiftPay payout engine: MIS file in, exactly-once payouts and a finance report out.

Stages, each its own module: mis (read) -> calculate (pure Polars) -> ledger (record)
-> report/mail (report). Storage, the local host and the CLI sit at the edges.
"""
