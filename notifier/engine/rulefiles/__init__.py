"""Rule files: read YAML safely, check rules and templates as one set, reload the last good set."""
