"""Reading an M-Pesa org portal statement (CSV or XLSX).

The portal's export starts with a header block (account holder, short code, time period, balances), then a
row of column names, then one row per transaction:

    Receipt No., Completion Time, Initiation Time, Details, Transaction Status, Paid In, Withdrawn, Balance,
    Balance Confirmed, Reason Type, Other Party Info, Linked Transaction ID, A/C No.

The column row is found by its names (wherever the header block ends, in any column order, any case, with
or without the trailing dots). Times are `dd-mm-yyyy HH:MM:SS` in Nairobi time (ISO `yyyy-mm-dd` and real
spreadsheet dates are accepted too); amounts may carry thousands separators, a currency and a minus sign.
Anything else is a StatementError that names the line.

A file is read within bounds (STATEMENT_MAX_ROWS rows, STATEMENT_MAX_XLSX_MB uncompressed for an XLSX,
STATEMENT_MAX_SECONDS in all), so a zip bomb or a sheet claiming a million columns is refused with a clear
error instead of running for minutes; amounts beyond a trillion, impossible dates and NUL bytes in a
receipt are refused too.

An XLSX is a zip. Its directory (names, declared sizes) is read without inflating anything
(`xlsx_archive_check`), which is all an upload in the web request does; the worker then reads the sheet as
a stream (openpyxl's read-only mode). What stays in memory is the shared-strings table, whole: its
uncompressed size is bounded with the rest, so memory per job is bounded (bench/statement_memory.py).
"""

from __future__ import annotations

import csv
import math
import re
import time as clock
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings

from core.nairobi_time import NAIROBI

# Canonical key -> the column name as the portal writes it.
COLUMNS = {
    "receipt": "Receipt No.",
    "completed": "Completion Time",
    "initiated": "Initiation Time",
    "details": "Details",
    "status": "Transaction Status",
    "paid_in": "Paid In",
    "withdrawn": "Withdrawn",
    "balance": "Balance",
    "balance_confirmed": "Balance Confirmed",
    "reason_type": "Reason Type",
    "other_party": "Other Party Info",
    "linked_id": "Linked Transaction ID",
    "account_no": "A/C No.",
}
REQUIRED = ("receipt", "completed", "status", "paid_in", "withdrawn")
# Kept as text on each row for the report; balances are not needed to match.
OPTIONAL = ("details", "reason_type", "other_party", "initiated", "linked_id", "account_no")
# How far into the file the column row may be: the header block is a dozen lines.
HEADER_SEARCH_LINES = 100
# Columns read from an XLSX row: the portal writes 13; a sheet claiming 16,384 is not read that wide.
XLSX_MAX_COLUMNS = 64
# Most parts an XLSX may hold (the portal's has about ten).
XLSX_MAX_MEMBERS = 10_000
# The most a part may inflate per byte stored. Spreadsheet XML deflates 5-20 to 1; zeros deflate 1,000 to 1,
# which is what a zip bomb is made of. Parts under a megabyte inflated are not worth refusing.
XLSX_MAX_RATIO = 100
XLSX_RATIO_FROM_BYTES = 1024 * 1024
# An amount at or beyond 10**12 KES (a trillion) is not a statement's: `1e999999999` would overflow.
MAX_AMOUNT_DIGITS = 12
# How often (in lines) the time bound is checked.
CHECK_EVERY = 4096

_DATE = re.compile(
    r"(?:(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)
_AMOUNT_NOISE = re.compile(r"\s|KES|KSH|Ksh|Kes")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d{1,2}")


class StatementError(ValueError):
    """The file is not a statement we can read; the message names the line."""


def _norm(name) -> str:
    return re.sub(r"\s+", " ", str(name or "")).strip().rstrip(".:").strip().lower()


_BY_NORMALISED = {_norm(title): key for key, title in COLUMNS.items()}


@dataclass(slots=True)
class StatementRow:
    line: int
    receipt: str
    completed_at: datetime
    status: str
    paid_in: Decimal | None
    withdrawn: Decimal | None
    details: str = ""
    reason_type: str = ""
    other_party: str = ""
    initiated: str = ""
    linked_id: str = ""
    account_no: str = ""

    @property
    def amount(self) -> Decimal:
        """The amount moved, positive: what was withdrawn, else what was paid in."""
        if self.withdrawn:
            return abs(self.withdrawn)
        return abs(self.paid_in or Decimal("0"))

    @property
    def direction(self) -> str:
        """'out' (a B2C payment, a charge), 'in' (a customer paid us), or '' (no amount)."""
        if self.withdrawn:
            return "out"
        if self.paid_in:
            return "in"
        return ""


@dataclass
class StatementHeader:
    """The header block: its `Label: value` lines, and the statement period when one is given."""

    fields: dict[str, str] = field(default_factory=dict)
    period_start: datetime | None = None
    period_end: datetime | None = None
    columns_line: int = 0


def parse_time(value, *, end_of_day: bool = False) -> datetime:
    """A Nairobi-time datetime from `dd-mm-yyyy HH:MM:SS`, ISO `yyyy-mm-dd HH:MM:SS`, or a spreadsheet date.
    Raises ValueError."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=NAIROBI)
    if isinstance(value, date):
        return datetime.combine(value, time.max if end_of_day else time.min, tzinfo=NAIROBI)
    match = _DATE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(value)
    return _from_match(match, end_of_day=end_of_day)


def _fast_time(value) -> datetime | None:
    """The portal's own 'dd-mm-yyyy HH:MM:SS' by slicing (a million rows a statement); None for any other
    form, which parse_time then reads or refuses."""
    if type(value) is not str or len(value) != 19 or value[2] != "-" or value[5] != "-" or value[10] != " ":
        return None
    try:
        return datetime(
            int(value[6:10]), int(value[3:5]), int(value[:2]), int(value[11:13]), int(value[14:16]),
            int(value[17:19]), tzinfo=NAIROBI,
        )  # fmt: skip
    except ValueError:
        return None


def _from_match(match: re.Match, *, end_of_day: bool = False) -> datetime:
    g = match.group
    if g("y"):
        year, month, day = int(g("y")), int(g("m")), int(g("d"))
    else:
        year, month, day = int(g("iy")), int(g("im")), int(g("id"))
    if g("H") is None:
        moment = time.max if end_of_day else time.min
        return datetime.combine(date(year, month, day), moment, tzinfo=NAIROBI)
    return datetime(year, month, day, int(g("H")), int(g("M")), int(g("S") or 0), tzinfo=NAIROBI)


def _bounded(amount: Decimal, value) -> Decimal:
    # adjusted() is the exponent of the leading digit; no arithmetic, so 1e999999999 cannot overflow here.
    if not amount.is_finite() or amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise ValueError(value)
    return amount


def parse_amount(value) -> Decimal | None:
    """Decimal from '1,500.00', '-1,500.00', '(1,500.00)', 'KES 1,500', a number cell; None when blank.
    Raises ValueError, also for an amount of a trillion or more (or not finite)."""
    if value is None or value == "":
        return None
    if type(value) is str and "," in value and "." in value and value.rfind(",") < value.rfind("."):
        value = value.replace(",", "")  # the portal's own '1,500.00': the common case, made quick
    if type(value) is str and value[-1:].isdigit() and value.lstrip("-")[:1].isdigit():
        try:
            amount = Decimal(value)
        except InvalidOperation:
            pass
        else:
            return _bounded(amount, value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(value)
        return _bounded(Decimal(str(round(value, 2))), value)
    text = str(value).strip()
    if not text or text == "-":
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = _AMOUNT_NOISE.sub("", text.strip("()"))
    if "," in text:
        # '1,500.00' and '1,500' group thousands; '1.500,00' and '1500,00' (a semicolon export) are decimal commas.
        if "." in text and text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        elif "." not in text and _DECIMAL_COMMA.fullmatch(text):
            text = text.replace(",", ".")
        else:
            text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(value) from None
    _bounded(amount, value)
    return -amount if negative else amount


def _period(text: str) -> tuple[datetime, datetime] | None:
    found = list(_DATE.finditer(text))
    if len(found) < 2:
        return None
    return _from_match(found[0]), _from_match(found[1], end_of_day=True)


def _cell_text(value) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d-%m-%Y %H:%M:%S")
    return str(value).strip()


def is_xlsx_file(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


def xlsx_archive_check(path: Path, *, max_bytes: int | None = None) -> None:
    """Refuse a zip bomb before anything is inflated: only the zip's directory is read. The sizes it declares
    are the most each part may inflate to (zipfile stops at them), so bounding them bounds the work and the
    memory of reading it; a part that claims to inflate more than XLSX_MAX_RATIO times its stored size is no
    spreadsheet. Raises StatementError."""
    max_bytes = max_bytes if max_bytes is not None else settings.STATEMENT_MAX_XLSX_MB * 1024 * 1024
    allowed = f"the {max_bytes / (1024 * 1024):,.0f} MB allowed (STATEMENT_MAX_XLSX_MB)"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise StatementError(f"{path.name}: not a readable XLSX file ({exc})") from None
    if len(members) > XLSX_MAX_MEMBERS:
        raise StatementError(f"{path.name}: the XLSX has {len(members):,} parts; a statement has about ten")
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names or not any(n.startswith("xl/worksheets/") for n in names):
        raise StatementError(f"{path.name}: not an XLSX workbook (no xl/workbook.xml and worksheet in it)")
    for member in members:
        if member.file_size > max_bytes:
            raise StatementError(
                f"{path.name}: its part {member.filename} inflates to {member.file_size / (1024 * 1024):,.0f} MB, "
                f"over {allowed}; export the statement as CSV or in smaller periods"
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= XLSX_RATIO_FROM_BYTES and ratio > XLSX_MAX_RATIO:
            raise StatementError(
                f"{path.name}: its part {member.filename} inflates {ratio:,.0f} times its stored size; a real "
                f"statement inflates at most {XLSX_MAX_RATIO} times (is it a zip bomb?)"
            )
    inflated = sum(member.file_size for member in members)
    if inflated > max_bytes:
        raise StatementError(
            f"{path.name}: the XLSX inflates to {inflated / (1024 * 1024):,.0f} MB in {len(members):,} parts, over "
            f"{allowed}; export the statement as CSV or in smaller periods"
        )


def statement_upload_check(path: Path) -> None:
    """What a web request may check of an uploaded statement without inflating it: an XLSX's zip directory
    (the worker reads its sheet), a CSV's header block and column row (a hundred lines at most). Raises
    StatementError."""
    if is_xlsx_file(path):
        xlsx_archive_check(path)
    else:
        Statement(path)


class Statement:
    """A statement file. `header` is read on opening; `rows()` streams the transactions (call it again for
    another pass)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int | None = None,
        max_xlsx_bytes: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StatementError(f"{self.path}: no such file")
        self.max_rows = max_rows if max_rows is not None else settings.STATEMENT_MAX_ROWS
        self.max_xlsx_bytes = (
            max_xlsx_bytes if max_xlsx_bytes is not None else settings.STATEMENT_MAX_XLSX_MB * 1024 * 1024
        )
        self.max_seconds = max_seconds if max_seconds is not None else settings.STATEMENT_MAX_SECONDS
        self.deadline = clock.monotonic() + self.max_seconds
        self.is_xlsx = is_xlsx_file(self.path)
        if self.is_xlsx:
            xlsx_archive_check(self.path, max_bytes=self.max_xlsx_bytes)
        self.header, self._index = self._read_header()

    def _bound(self, line: int) -> None:
        """Called for every line read (blank ones too): the row and time bounds."""
        if line > self.max_rows:
            raise StatementError(
                f"line {line}: the statement has more than {self.max_rows:,} rows (STATEMENT_MAX_ROWS); "
                "split it into smaller periods"
            )
        if line % CHECK_EVERY == 0 and clock.monotonic() > self.deadline:
            raise StatementError(
                f"line {line}: reading the statement took longer than {self.max_seconds:g} s "
                "(STATEMENT_MAX_SECONDS); split it into smaller periods"
            )

    # Raw lines: (line number, list of cell values), blank lines skipped.
    def _lines(self) -> Iterator[tuple[int, list]]:
        if self.is_xlsx:
            yield from self._xlsx_lines()
        else:
            yield from self._csv_lines()

    def _csv_lines(self) -> Iterator[tuple[int, list]]:
        # errors="replace": a stray byte in a name must not stop a reconciliation; receipts are ASCII.
        with self.path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            sample = f.read(8192)
            f.seek(0)
            delimiter = ";" if sample.count(";") > sample.count(",") else ","
            reader = csv.reader(f, delimiter=delimiter)
            bound = self._bound
            try:
                for cells in reader:
                    bound(reader.line_num)
                    if any(cells):
                        yield reader.line_num, cells
            except csv.Error as exc:
                raise StatementError(f"line {reader.line_num}: {exc}") from None

    def _xlsx_lines(self) -> Iterator[tuple[int, list]]:
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken file
            raise StatementError(f"{self.path.name}: not a readable XLSX file ({exc})") from None
        bound = self._bound
        try:
            sheet = workbook.worksheets[0]
            # The sheet's own <dimension> (A1:XFD1048576 in a bomb) would make openpyxl pad every row to
            # 16,384 cells and yield a million rows: read only the cells there are, at most 64 wide.
            sheet.reset_dimensions()
            for number, cells in enumerate(sheet.iter_rows(values_only=True, max_col=XLSX_MAX_COLUMNS), start=1):
                bound(number)
                if any(c not in (None, "") for c in cells):
                    yield number, list(cells)
        finally:
            workbook.close()

    def _read_header(self) -> tuple[StatementHeader, dict[str, int]]:
        header = StatementHeader()
        for line, cells in self._lines():
            names = [_norm(c) for c in cells]
            index = {_BY_NORMALISED[n]: i for i, n in enumerate(names) if n in _BY_NORMALISED}
            if "receipt" in index and "completed" in index:
                missing = [COLUMNS[k] for k in REQUIRED if k not in index]
                if missing:
                    raise StatementError(f"line {line}: the column row lacks {', '.join(missing)}")
                header.columns_line = line
                return header, index
            # A header block line: "Label:, value" in two cells, or "Label: value" in one.
            texts = [_cell_text(c) for c in cells if _cell_text(c)]
            if texts:
                label, _, rest = texts[0].partition(":")
                value = " ".join([rest.strip(), *texts[1:]]).strip()
                header.fields[label.strip()] = value
                if _norm(label).startswith("time period") or _norm(label) == "period":
                    try:
                        period = _period(value)
                    except ValueError:
                        raise StatementError(
                            f"line {line}: Time Period {value!r} is not two real dd-mm-yyyy dates"
                        ) from None
                    if period:
                        header.period_start, header.period_end = period
            if line >= HEADER_SEARCH_LINES:
                break
        wanted = ", ".join(COLUMNS[k] for k in REQUIRED)
        raise StatementError(
            f"{self.path.name}: no column row ({wanted}) in the first {HEADER_SEARCH_LINES} lines; "
            "is this an M-Pesa org portal statement?"
        )

    def rows(self, *, lines: set[int] | None = None, full: bool = True) -> Iterator[StatementRow]:
        """The transactions, in file order. `lines` keeps only those lines (others are not even parsed);
        without `full` only the matching fields and the reason type and details are filled in (faster)."""
        index = self._index
        width = max(index.values()) + 1
        wanted = OPTIONAL if full else ("reason_type", "details")
        optional = [(k, i) for k, i in index.items() if k in wanted]
        i_receipt, i_completed, i_status = index["receipt"], index["completed"], index["status"]
        i_in, i_out = index["paid_in"], index["withdrawn"]
        columns_line = self.header.columns_line
        for line, cells in self._lines():
            if line <= columns_line or (lines is not None and line not in lines):
                continue
            if len(cells) < width:
                cells = cells + [None] * (width - len(cells))
            completed, paid_in, withdrawn = cells[i_completed], cells[i_in], cells[i_out]
            status = _cell_text(cells[i_status])
            if not (status or _cell_text(completed) or _cell_text(paid_in) or _cell_text(withdrawn)):
                continue  # a footer or note line, not a transaction
            receipt = _cell_text(cells[i_receipt]).upper()
            if not receipt:
                raise StatementError(f"line {line}: no {COLUMNS['receipt']}")
            if "\x00" in receipt:
                raise StatementError(f"line {line}: the {COLUMNS['receipt']} holds a NUL byte")
            try:
                completed_at = _fast_time(completed) or parse_time(completed)
            except ValueError:
                raise StatementError(
                    f"line {line}: {COLUMNS['completed']} {_cell_text(completed)!r} is not dd-mm-yyyy HH:MM:SS"
                ) from None
            try:
                amount_in = parse_amount(paid_in)
            except ValueError:
                raise StatementError(
                    f"line {line}: {COLUMNS['paid_in']} {_cell_text(paid_in)!r} is not an amount"
                ) from None
            try:
                amount_out = parse_amount(withdrawn)
            except ValueError:
                raise StatementError(
                    f"line {line}: {COLUMNS['withdrawn']} {_cell_text(withdrawn)!r} is not an amount"
                ) from None
            row = StatementRow(line, receipt, completed_at, status, amount_in, amount_out)
            for key, i in optional:
                setattr(row, key, _cell_text(cells[i]))
            yield row

    def period(self, rows_min: datetime | None = None, rows_max: datetime | None = None):
        """The statement's period: from its header, else the first and last completion times seen."""
        if self.header.period_start and self.header.period_end:
            return self.header.period_start, self.header.period_end
        return rows_min, rows_max


def statement_time_text(value: datetime) -> str:
    return value.astimezone(NAIROBI).strftime("%d-%m-%Y %H:%M:%S")
