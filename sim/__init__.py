"""Replay of recordings (:mod:`sim.replay`), a synthetic runner with known truth
(:mod:`sim.synthetic`), and the virtual BLE footpod (:mod:`sim.footpod`)."""
