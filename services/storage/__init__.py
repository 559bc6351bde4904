"""Where videos and artefacts live: the BlobStore protocol, a local folder, Azure Blob Storage."""
