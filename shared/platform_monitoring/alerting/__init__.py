"""Rules, the alert store, the AlertingService and the delivery of notifications."""
