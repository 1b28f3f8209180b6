"""fgen_values: the normalised value of each entity, from its category's value list."""
