"""The ``iree-lab`` command (top layer: may import every other layer)."""
