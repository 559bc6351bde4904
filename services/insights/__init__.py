"""What analysts read from the rows: tables, segments, search, comparison, exports, links."""
