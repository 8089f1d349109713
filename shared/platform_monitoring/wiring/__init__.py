"""Process-wide singletons built from the environment; the only library code that reads it for them."""
