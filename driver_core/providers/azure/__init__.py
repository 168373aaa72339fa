"""Microsoft Azure: Shared Key / SAS request signing and the Blob storage driver."""
