"""Bluetooth LE sources (bleak) for RSC footpods and Polar PMD accelerometers: issue 4, not yet built."""
