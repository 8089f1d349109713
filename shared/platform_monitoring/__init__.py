"""Monitoring and alerting library shipped as the bundle's Lambda layer."""
