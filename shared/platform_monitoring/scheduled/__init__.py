"""The every-minute run: health checks, gauges, periodic rules and resolving (health + alerting)."""
