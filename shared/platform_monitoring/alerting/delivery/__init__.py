"""Delivering a notification: messages, channels, delivery records, the dispatcher."""
