"""The durable job queue: typed job records, the queue on top of storage, and the worker."""
