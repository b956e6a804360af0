"""Tools every app uses and no app owns: errors, Nairobi time, phone numbers, spreadsheet-safe cells,
compiled row writes, the console kit, API pagination and error mapping. No models; imports no app.
"""
