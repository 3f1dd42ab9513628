"""One module per product. Each defines `HANDLER = ProductHandler(...)`; see
payout_core/products.py for the contract. Modules here are discovered, not listed."""
