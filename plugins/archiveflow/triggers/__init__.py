"""Deferrable waits archiveflow needs and the Amazon provider lacks (importable by the triggerer)."""
