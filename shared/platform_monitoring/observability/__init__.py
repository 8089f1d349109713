"""Logging, Sentry, the metric catalog, store and exposition, the performance monitor."""
