"""cadence: a real-time running-form coach. Streaming step detection, cadence and GCT."""
