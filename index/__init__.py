"""Build and search citeqa's persistent passage index."""
