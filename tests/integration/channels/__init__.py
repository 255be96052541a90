"""Channel adapters against real local servers speaking the providers wire formats."""
