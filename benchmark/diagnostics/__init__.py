"""Diagnostics: speed against the hardware's limits (`perf`) and CI's
regression check of metric values against committed references
(`regression`)."""
