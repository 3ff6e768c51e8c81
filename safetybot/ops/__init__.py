"""Running an instance: settings, logs, metrics, health, preflight checks, backups and operator commands."""
