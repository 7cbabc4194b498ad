"""Label-config handling: what a Label Studio config asks for, and valid results for it."""
