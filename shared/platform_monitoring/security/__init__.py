"""Security monitoring: events, addresses, rules, stores, the monitor, ingest and processor, the WAF edge."""
