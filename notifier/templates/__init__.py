"""Message rendering: sandboxed Jinja2, locale fallback, SMS segments."""
