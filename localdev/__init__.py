"""Local development: the stand-ins for Azure that run on one machine.

The local Functions host (and its NCRONTAB parser), embedded PostgreSQL and Azurite, the
demo, the benchmark and the workload generator. None of it is deployed: the function app
never imports this package (a test over the imports holds that), and `.funcignore`
leaves it out of the published zip.
"""
