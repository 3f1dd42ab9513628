"""The ledger adapter: everything PostgreSQL. Connections and migrations (`db`), and the
SQL of every read and write the app makes (`store`). No other package holds SQL."""
