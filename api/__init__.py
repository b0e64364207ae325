"""citeqa's HTTP service, command line and chat page."""
