"""What the lessons add to the library: exercise checks, the daily check-in card, attention plots.

Everything public is re-exported by :mod:`mhsa_ms`.  :mod:`.exercises` is the kernel side of the
checks (``mm.check_exercise``); :mod:`.checks` holds each exercise's cases, NumPy reference and
usual mistakes; :mod:`.referee` is the process ``mhsa-ms grade`` starts to judge answers.
"""
