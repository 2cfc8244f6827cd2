"""Export snapshots (options, source, writing, card, snapshots) and imports (imports)."""
