"""The loaders, one module per source."""

# The sources `customer360 load` loads, each on its own or all of them (`load all`, `customer360 run`, the Airflow
# DAG), in the order their outcomes are reported.
LOADED_SOURCES = ("hubspot", "shopify", "segment", "csv_contacts")
