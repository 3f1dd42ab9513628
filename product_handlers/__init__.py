"""One module per product. Each defines `HANDLER = ProductHandler(...)`; see
payout_core/engine/products.py for the contract. Importing this package registers every
module's handler with the engine (the flows and the operator's commands import it);
modules are discovered, not listed."""

import importlib
import pkgutil

from payout_core.engine.products import ProductHandler, register

for _module_info in pkgutil.iter_modules(__path__):
    _handler = getattr(importlib.import_module(f"{__name__}.{_module_info.name}"), "HANDLER", None)
    if isinstance(_handler, ProductHandler):
        register(_handler)
