#!/usr/bin/env python
"""Peak memory of reading an XLSX statement in the worker's path (`Statement(path)`, then every row), for
statements of N rows laid out as the org portal lays them out (13 columns).

    .venv/bin/python bench/statement_memory.py                 # 10,000, 50,000 and 100,000 rows
    .venv/bin/python bench/statement_memory.py 20000 200000

Two layouts of each size: `shared` (text in the shared-strings table, as Excel writes it, which openpyxl keeps
whole while it reads: the worst case) and `inline` (text in the sheet, as openpyxl's write-only mode writes it).

Each reading runs in a process of its own. The baseline is its resident set once Django and openpyxl are
imported; the peak is the highest resident set while it reads (Linux's VmHWM, reset to the baseline first
through /proc/self/clear_refs, since importing peaks higher than reading a small statement); "job" is the
difference, what one reading adds to a worker.
No database is needed. The files are written to var/bench/ and kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
COLUMNS = [
    "Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status", "Paid In", "Withdrawn",
    "Balance", "Balance Confirmed", "Reason Type", "Other Party Info", "Linked Transaction ID", "A/C No.",
]  # fmt: skip
NAMES = ["JANE WANJIRU", "OTIENO JUMA", "ACHIENG ATIENO", "KAMAU NJOROGE", "CHEBET KIPTOO", "MUTUA MUSYOKA"]


# openpyxl writes text inline, so its skeleton names no shared-strings part: added as Excel names it.
SHARED_STRINGS_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
SHARED_STRINGS_RELATION = (
    b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    b'Target="sharedStrings.xml" Id="rIdShared"/>'
)


def _row(n: int, balance: int) -> list[str]:
    amount = 100 + (n * 37) % 49_900
    phone = f"2547{n % 100_000_000:08d}"
    name = NAMES[n % len(NAMES)]
    when = f"{1 + n % 28:02d}-{1 + n % 12:02d}-2025 {n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}"
    return [
        f"SG{n:08X}", when, when, f"Business Payment to Customer via API to {phone} - {name}", "Completed",
        "", f"-{amount:,}.00", f"{balance - amount:,}.00", "true", "Business Payment to Customer via API",
        f"{phone} - {name}", "", "",
    ]  # fmt: skip


def _lines(rows: int):
    yield from (["Account Holder:", "BENCH LIMITED"], ["Short Code:", "600999"],
                ["Time Period:", "01-01-2025 00:00:00 - 31-12-2025 23:59:59"], ["Opening Balance:", "0.00"], [],
                COLUMNS)  # fmt: skip
    balance = 50_000_000
    for n in range(rows):
        row = _row(n, balance)
        balance -= 100 + (n * 37) % 49_900
        yield row


def write_inline(path: Path, rows: int) -> None:
    """openpyxl's write-only workbook: text inline in the sheet."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Statement")
    for line in _lines(rows):
        sheet.append(line)
    book.save(path)


def write_shared(path: Path, rows: int) -> None:
    """Text in the shared-strings table, as Excel writes it: the table openpyxl keeps whole in memory while it
    reads (the worst case for a reader). The workbook's other parts are openpyxl's; the sheet and the table
    are streamed here (openpyxl's own writer would hold every cell)."""
    from xml.sax.saxutils import escape

    from openpyxl import Workbook

    skeleton = path.with_name("skeleton.xlsx")
    book = Workbook()
    book.active.append(["x"])
    book.save(skeleton)
    index: dict[str, int] = {}
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", SHARED_STRINGS_RELATION + b"</Relationships>")
            if item.filename != "xl/worksheets/sheet1.xml":
                out.writestr(item, data)
        with out.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                        b'spreadsheetml/2006/main"><sheetData>')  # fmt: skip
            for number, line in enumerate(_lines(rows), start=1):
                cells = []
                for column, value in enumerate(line):
                    if value:
                        i = index.setdefault(value, len(index))
                        cells.append(f'<c r="{chr(65 + column)}{number}" t="s"><v>{i}</v></c>')
                sheet.write(f'<row r="{number}">{"".join(cells)}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        with out.open("xl/sharedStrings.xml", "w") as table:
            table.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                        f'spreadsheetml/2006/main" uniqueCount="{len(index)}">'.encode())  # fmt: skip
            for value in index:
                table.write(f"<si><t>{escape(value)}</t></si>".encode())
            table.write(b"</sst>")
    skeleton.unlink()


def write_bomb(path: Path, inflated_mb: int) -> None:
    """The attack's file: a workbook whose sheet is `inflated_mb` MB of zeros (about 1 MB stored per 1,000)."""
    megabyte = b"0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("[Content_Types].xml", "<Types/>")
        out.writestr("xl/workbook.xml", "<workbook/>")
        with out.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(inflated_mb):
                sheet.write(megabyte)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _reset_peak() -> int:
    """Linux: start the peak resident set (VmHWM) again from the current one (importing Django peaks higher
    than reading a small statement does), and return the current one, in KB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kb("VmRSS")


def measure_upload_check(path: str) -> None:
    """In its own process: what the console's upload does with the file in the web request."""
    import django

    django.setup()
    from payments.reconciliation.statement import StatementError, statement_upload_check

    baseline = _reset_peak()
    started = time.monotonic()
    try:
        statement_upload_check(Path(path))
        refused = ""
    except StatementError as exc:
        refused = str(exc)
    seconds = time.monotonic() - started
    peak = _status_kb("VmHWM")
    print(json.dumps({"refused": refused, "baseline_kb": baseline, "peak_kb": peak, "seconds": round(seconds, 3)}))


def measure(path: str) -> None:
    """In its own process: the worker's reading of one statement."""
    import django

    django.setup()
    import openpyxl  # noqa: F401 - imported before the baseline, as a worker has it loaded

    from payments.reconciliation.statement import Statement

    baseline = _reset_peak()
    started = time.monotonic()
    statement = Statement(path)
    count = sum(1 for _ in statement.rows())
    seconds = time.monotonic() - started
    peak = _status_kb("VmHWM")
    print(json.dumps({"rows": count, "baseline_kb": baseline, "peak_kb": peak, "seconds": round(seconds, 2)}))


def main(sizes: list[int]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "mpesa_payouts.settings")
    env.setdefault("CELERY_BROKER_URL", "memory://")
    env["PYTHONPATH"] = str(ROOT)
    limit_mb = int(env.get("STATEMENT_MAX_XLSX_MB", "64"))
    env["STATEMENT_MAX_XLSX_MB"] = "100000"  # measure beyond the bound too; the table says what it allows
    print(f"{'layout':<7} {'rows':>9} {'file MB':>8} {'inflated MB':>12} {'baseline MB':>12} {'peak MB':>8} "
          f"{'job MB':>7} {'s':>6}  within STATEMENT_MAX_XLSX_MB={limit_mb}")  # fmt: skip
    for layout, write in (("shared", write_shared), ("inline", write_inline)):
        for rows in sizes:
            path = OUT / f"statement-{layout}-{rows}.xlsx"
            if not path.exists():
                write(path, rows)
            inflated = sum(m.file_size for m in zipfile.ZipFile(path).infolist())
            answer = subprocess.run([sys.executable, __file__, "--measure", str(path)], env=env, cwd=ROOT,
                                    capture_output=True, text=True, timeout=900, check=True)  # fmt: skip
            result = json.loads(answer.stdout.strip().splitlines()[-1])
            assert result["rows"] == rows, result
            mb, baseline, peak = 1024 * 1024, result["baseline_kb"] / 1024, result["peak_kb"] / 1024
            print(f"{layout:<7} {rows:>9,} {path.stat().st_size / mb:>8.1f} {inflated / mb:>12.1f} {baseline:>12.0f} "
                  f"{peak:>8.0f} {peak - baseline:>7.0f} {result['seconds']:>6.1f}  "
                  f"{'yes' if inflated <= limit_mb * mb else 'no (refused)'}", flush=True)  # fmt: skip

    bomb = OUT / "bomb-1000mb.xlsx"
    if not bomb.exists():
        write_bomb(bomb, 1000)
    answer = subprocess.run([sys.executable, __file__, "--upload-check", str(bomb)], cwd=ROOT,
                            env={**env, "STATEMENT_MAX_XLSX_MB": str(limit_mb)},
                            capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    print(f"\nUpload check of {bomb.name} ({bomb.stat().st_size / (1024 * 1024):.1f} MB stored, 1,000 MB inflated): "
          f"{(result['peak_kb'] - result['baseline_kb']) / 1024:.0f} MB above the baseline, {result['seconds']} s; "
          f"refused: {result['refused']}")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(sys.argv[2])
    elif sys.argv[1:2] == ["--upload-check"]:
        measure_upload_check(sys.argv[2])
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 50_000, 100_000])
