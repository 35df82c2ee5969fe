"""The demo kit: the data generator, the local source API servers and `customer360 demo`.

It exists to exercise the production loaders against the real contracts and to score every rule against
known truth. Production code (loaders, pipeline, dbt runner, activation, privacy, orchestration) imports
nothing from here; only the CLI's demo, generate and serve commands load it, lazily
(tests/python/test_demo_kit_boundary.py).
"""
