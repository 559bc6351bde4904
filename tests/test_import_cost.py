"""A fresh import of the services loads no library they do not use yet: pandas and the Azure
SDKs are imported where they are used, so the worker, the CLI and the server start without them
(bench section 6 times the import of the same modules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.startup import MODULES

ROOT = Path(__file__).resolve().parents[1]
DEFERRED = ("pandas", "pyarrow", "azure.core", "azure.storage.blob",
            "azure.ai.vision.imageanalysis", "azure.identity", "requests")


def test_importing_the_services_loads_neither_pandas_nor_the_azure_sdks():
    """Test that `import services.…` (bench section 6's modules) in a fresh interpreter leaves
    pandas, pyarrow, requests and every Azure SDK unimported."""
    code = (f"import sys; import {MODULES}; "
            f"print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == []


def test_the_analyze_and_worker_commands_start_without_pandas_or_openai():
    """Test that `cli.py analyze` and `cli.py worker` (bench section 3 measures the first's
    memory) import neither pandas nor the openai SDK until an analysis needs them."""
    code = ("import sys; import commands.analyze, commands.queue; "
            "print(' '.join(m for m in ('pandas', 'openai') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == []
