"""Channel adapters, one module per provider behind one Channel protocol."""
