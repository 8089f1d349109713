"""Docker-free local stack: the template's functions, API, queues and schedules on loopback."""
