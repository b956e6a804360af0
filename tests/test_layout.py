"""Which way imports go (docs/architecture.md, "Packages and the way imports go").

core/ is under every app, so it may import none of them; daraja/ is the Daraja client with no ORM and
imports nothing of ours but core; daraja_simulator/ stands in for Safaricom, so it may know Daraja's
protocol (daraja, core) but nothing of payments. An import that breaks one of these is how a toolkit slides
back into an app: this test names the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = {"payments", "ledger", "webhooks", "notifications", "mpesa_payouts"}
OURS = APPS | {"core", "daraja", "daraja_simulator", "tests", "bench", "scripts"}

# package -> the packages of this project it may import (stdlib and third-party are free, but see NO_ORM)
ALLOWED = {
    "core": {"core"},
    "daraja": {"daraja", "core"},
    "daraja_simulator": {"daraja_simulator", "daraja", "core"},
}
NO_ORM = {"daraja", "daraja_simulator"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((node.lineno, ".".join([*base, node.module or ""]).rstrip(".")))
            else:
                found.append((node.lineno, node.module))
    return found


def _breaches(package: str) -> list[str]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ holds no module: the layout is not in place"
    breaches = []
    for path in files:
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in OURS and top not in ALLOWED[package]:
                breaches.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            if package in NO_ORM and (name == "django.db" or name.startswith("django.db.")):
                breaches.append(f"{path.relative_to(ROOT)}:{line} imports {name} (no ORM here)")
    return breaches


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_only_go_down(package):
    assert _breaches(package) == []


def test_the_check_sees_a_breach(tmp_path, monkeypatch):
    # A guard that cannot fail guards nothing: a core module importing payments must be reported.
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("from payments.models import Payout\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _breaches("core") == ["core/bad.py:1 imports payments.models"]
