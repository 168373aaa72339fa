"""Provider packages, one per vendor; see driver_core.registry for the table."""
