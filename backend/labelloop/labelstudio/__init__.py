"""The Label Studio client: the API calls labelloop makes, resync and queue publishing."""
