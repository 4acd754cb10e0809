"""gunicorn.conf.py's settings for the peer app in its own virtualenv.

Everything is taken from the project's gunicorn.conf.py except its start hook, which imports
our app (to warn about per-process rate limits) and cannot run where our app is not installed.
"""

import runpy
from pathlib import Path

_ours = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({name: value for name, value in _ours.items()
                  if not name.startswith("_") and name != "on_starting"})
