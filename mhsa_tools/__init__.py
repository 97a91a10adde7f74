"""mhsa_tools: what instructors and maintainers run, beside the learner's package ``mhsa_ms``.

- :mod:`mhsa_tools.cli`: the ``mhsa-ms`` command line;
- :mod:`mhsa_tools.release` and :mod:`mhsa_tools.grading`: student editions and grading;
- :mod:`mhsa_tools.slides`: offline slide decks;
- :mod:`mhsa_tools.msrun` and :mod:`mhsa_tools.train`: training runs, on one device or under msrun.

This package never imports MindSpore (nor ``mhsa_ms``) in its own process: the
lessons run in Jupyter kernels and training in worker processes.  The only
module that loads MindSpore is :mod:`mhsa_tools.train`, the training worker
(``python -m mhsa_tools.train``); import-linter contracts in pyproject.toml
enforce this.
"""
