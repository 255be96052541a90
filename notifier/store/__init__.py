"""The store: SQLModel tables, queries and claims over SQLite or PostgreSQL."""
