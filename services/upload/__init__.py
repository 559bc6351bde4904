"""A video into the store: the streamed browser upload, its single-use tokens, one ingest path."""
