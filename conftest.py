"""pytest configuration shared by the package tests, doctests and nbval.

Environment for stable runs: MindSpore's logs off (must precede its import,
also in the Jupyter kernels nbval starts, which inherit this environment),
stable IPython cell names, and English messages whatever the machine's locale
(a test or lesson that wants Chinese chooses it: ``mm.set_language("zh")``).
The device is chosen once, before any op runs.
"""
import os

os.environ.setdefault("GLOG_v", "4")
os.environ.setdefault("IPYKERNEL_CELL_NAME", "<IPY-INPUT>")
os.environ["MHSA_MS_LANG"] = "en"

import mhsa_ms as mm  # noqa: E402

mm.use_device("auto")
