"""fgen_links: whole statements (one entity per role) from candidate tuples within sentences."""
