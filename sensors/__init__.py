"""Bluetooth LE sources (bleak) for RSC footpods and Polar PMD: issue 4, not built yet."""
