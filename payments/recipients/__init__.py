"""Saved recipients (issue 29): create, change, approve, reject, archive (services.py), pay one (paying.py),
and load many from a CSV (imports.py). docs/recipients.md explains them for an operator."""
