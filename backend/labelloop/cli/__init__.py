"""The command line: `labelloop serve | worker | status | …`."""
