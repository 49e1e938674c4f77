"""The runtime must never load PyTorch: users of `live-nst run` install no torch."""

import subprocess
import sys

RUNTIME_MODULES = ["live_nst.cli", "live_nst.app", "live_nst.render", "live_nst.pipeline", "live_nst.inference",
                   "live_nst.providers", "live_nst.catalog", "live_nst.contract", "live_nst.segment",
                   "live_nst.mask", "live_nst.temporal", "live_nst.sources", "live_nst.sinks", "live_nst.controls",
                   "live_nst.compose", "live_nst.remote.server"]


def test_runtime_imports_without_loading_torch():
    code = (
        "import sys, importlib\n"
        f"for name in {RUNTIME_MODULES!r}: importlib.import_module(name)\n"
        "from live_nst.cli import build_parser; build_parser()\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", "a runtime module imported torch"


def test_runtime_works_where_torch_cannot_be_imported():
    # sys.modules[name] = None makes any `import torch` raise ImportError.
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from live_nst.cli import main\n"
        "sys.exit(main(['styles', '--json']))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("[")
