"""Support for iree_lab's tests, benchmarks and bundled samples (not a runtime layer)."""
