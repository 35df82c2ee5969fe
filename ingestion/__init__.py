"""customer360 ingestion: demo data, local source servers, dlt loaders and the CLI that drives them."""
