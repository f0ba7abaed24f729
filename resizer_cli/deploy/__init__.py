"""Deploy engine: read what exists, plan the difference, apply it."""
