"""notifier's tests: unit (pure), integration (real databases and servers), e2e."""
