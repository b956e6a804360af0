"""Print the code tables of docs/result-codes.md from the catalogue (daraja/result_codes.py).

    .venv/bin/python scripts/result_codes_doc.py > /tmp/tables.md   # then paste over the tables in the doc

tests/daraja/test_result_codes.py checks that the doc lists every catalogued code.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daraja.result_codes import Namespace, all_entries  # noqa: E402

TITLES = {
    Namespace.SYNC: "Synchronous answers (`ResponseCode` / `errorCode`, and the client's own codes)",
    Namespace.B2C: "Asynchronous B2C results (`ResultCode`; also Transaction Status and Account Balance results)",
    Namespace.STK: "STK push callbacks (`ResultCode`)",
    Namespace.C2B_VALIDATION: "C2B validation answers (what our validation URL may answer)",
    Namespace.B2B: "Asynchronous B2B results (`ResultCode` of paybill, till and float top-up payments)",
    Namespace.REVERSAL: "Reversal results (`ResultCode` of a Reversal result; `daraja/reversal.py`)",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> None:
    entries = all_entries()
    for namespace in TITLES:
        print(f"## {TITLES[namespace]}\n")
        print("| Code | Namespace | Class | Meaning | What the operator does | Source (final failures) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for info in entries:
            if info.namespace == namespace:
                klass = str(info.klass) + (" (retryable)" if info.retryable else "")
                print(
                    f"| `{info.code}` | {info.namespace} | {klass} | {_cell(info.meaning)} | {_cell(info.action)} "
                    f"| {_cell(info.source) or '-'} |"
                )
        print()


if __name__ == "__main__":
    main()
