"""`import iree_lab` alone turns on rich views inside IPython (no import of iree_lab.notebook needed)."""

from __future__ import annotations

import subprocess
import sys


def test_import_iree_lab_in_ipython_gives_rich_module_view():
    # A fresh interpreter, so that nothing imported by other tests helps.
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import iree_lab\n"
        "from iree_lab import samples\n"
        "data, _ = shell.display_formatter.format(iree_lab.open(samples.path('mlp')))\n"
        "html = data.get('text/html', '')\n"
        "print('predict' in html and 'loop_sum' in html and '<' in html)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stdout + out.stderr


def test_plain_python_import_loads_no_notebook_code():
    code = "import sys, iree_lab; print('iree_lab.notebook' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
