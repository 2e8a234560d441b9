"""Rhythm analysis, madmom-style: a signal, a feature, an activation, a decoder, each a small step
with its rate stated. Pure numpy: samples in, times in seconds out; no files."""
