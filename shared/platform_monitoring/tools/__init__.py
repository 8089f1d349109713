"""Operator tools (monitoring-test, migrations): no Lambda function imports them."""
