"""The flows: one module per flow (an MIS file, a reconciliation file, the iteration and
its cycle, a review decision, a recalculation, the reference data), each given a Context
by its entry point and doing its work as units of work (unit_of_work.py)."""

import product_handlers  # noqa: F401  (registers every product with the engine)
