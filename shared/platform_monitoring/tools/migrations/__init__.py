"""MySQL migrations, applied in file-name order by `python -m platform_monitoring.migrate`."""
