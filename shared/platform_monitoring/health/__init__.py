"""The guide's health checks, the service that runs them concurrently, and their application/health+json form."""
