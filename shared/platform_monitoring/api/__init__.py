"""HTTP glue shared by the API functions: answers, secret checks, bodies, signatures."""
