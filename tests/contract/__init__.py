"""One behaviour suite per store interface, run on the in-memory fake and on the real store.

Every test takes its store through a fixture of conftest.py with two parameters: `fake` (the
stand-in of tests/support/fakes.py, no server) and `real` (the library's store on moto server's
tables and topic built from template.yaml, or on Redis), marked `integration`. `-k fake` runs
the fake half alone.
"""
