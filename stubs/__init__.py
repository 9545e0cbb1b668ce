"""stubs package."""
