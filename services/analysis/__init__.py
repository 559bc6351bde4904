"""Running analyses: the queue and its leases, one analysis end to end, the worker, estimates."""
