"""Everything that is not UI. Never imports streamlit: the worker and the CLI run without it."""
