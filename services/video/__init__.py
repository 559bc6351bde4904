"""A video file: probe its header, stream its sampled frames."""
