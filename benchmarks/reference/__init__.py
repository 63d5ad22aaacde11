"""Hand-written NumPy/CuPy forward and backward passes: the floor each workload is measured
against. Written the way a careful person writes them by hand (in-place updates where the
buffer is theirs), not with any trick a framework could not use."""
