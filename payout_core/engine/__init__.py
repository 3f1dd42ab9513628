"""The engine: pure rules of the business, no I/O.

Products and their contract, MIS reading (bytes -> typed frames), bank profiles, rules,
and the calculation. Nothing here opens a connection, a socket or a blob; every function
takes frames or paths and returns frames, so it runs the same in a unit test, the blob
trigger and the benchmark. Adapters (ledger, storage, mail) import the engine, never the
other way round.
"""
