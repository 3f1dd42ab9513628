"""ShiftPay payouts, what is deployed: MIS file in, exactly-once payouts and a finance report out.

Rooms (README, "Repository layout"): `engine` decides (pure Polars: read, calculate, every
row it decides), `ledger` keeps rows (all SQL), `flows` join them in one unit of work per
file, close or decision, `adapters` talk to Azure, `report` and `review` render for people.
"""

import os

# Polars allocates through jemalloc, which by default keeps freed pages for 10 s. A file is
# processed in batches a few seconds apart, so those pages would pile up into the peak
# memory a 1.5 GB Consumption instance allows; returning them at once costs no measurable
# time (see README, Benchmark). Read when Polars loads, hence here, before any stage
# imports it; a value the operator sets wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:300,muzzy_decay_ms:0")
