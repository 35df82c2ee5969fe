"""Privacy by construction: erasure requests (recorded as salted hashes), their enforcement everywhere."""
