"""Front ends: one module per messenger, the only place that imports it."""
