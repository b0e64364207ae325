"""Turn a question into an answer that cites its exact span."""
