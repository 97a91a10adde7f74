"""What the lessons add to the library: exercise checks, the daily check-in card, attention plots.

Everything public is re-exported by :mod:`mhsa_ms`.
"""
