"""Reports: money in and out, payout outcomes, failures by reason, charges and times, for a range of Nairobi
days grouped by day, week or month (docs/reports.md). `params.py` reads and checks what was asked,
`figures.py` reads the figures (a selector: it never writes), `export.py` writes them as CSV or XLSX."""
