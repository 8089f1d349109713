"""The guide's reviews as scheduled reports: daily critical alerts, weekly security, monthly performance."""
