"""The guide's health checks and the service that runs them concurrently."""
