"""Replay, the synthetic runner and the virtual BLE footpod: issue 3 and 4, not yet built."""
