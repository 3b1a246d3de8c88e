"""The dashboard (/) and the Jobs page (/jobs/): read both apps, so they are wiring (tests/test_import_graph.py)."""
