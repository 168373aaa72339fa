"""The local provider: object storage in a folder on disk."""
