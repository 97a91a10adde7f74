"""Fixtures and paths shared by every test folder (tests/model, tests/training, tests/course, tests/tools).

The helpers beside this file (``support``: MindSpore tensors and parameters,
``reference``: the float64 NumPy reference of the model) are importable from
any test folder because pytest puts this folder on ``sys.path``.
"""
