"""Amazon Web Services: S3 storage (more services follow)."""
