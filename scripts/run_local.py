#!/usr/bin/env python
"""`make run`: migrate the local database and start the web server.

(The worker, beat and the Daraja simulator join this launcher in the run-it-for-real issue.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def main() -> int:
    os.chdir(ROOT)
    (ROOT / "var").mkdir(exist_ok=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], check=True)
    print("Starting http://127.0.0.1:8000/ (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call([PYTHON, "manage.py", "runserver", "127.0.0.1:8000"])
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
