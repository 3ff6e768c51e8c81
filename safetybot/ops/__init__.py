"""Running an instance: settings, logs, metrics, health, preflight, backups, admin commands."""
