"""Configuration, secrets, errors, masking, DynamoDB helpers and the small interfaces: imports nothing first-party."""
