"""Example workflows shipped with cfwf-emulator (used by the demo and the README)."""
