"""shopbot application: configuration, storage, services, CLI and bot wiring."""
