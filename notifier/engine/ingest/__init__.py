"""Ingest: the ledger service behind the API, the CLI and the import; bulk import; demo."""
