"""Build-time mapping that pyproject.toml cannot express on its own.

The front end's source folder is the top-level ``widgets/`` (DESIGN's layout); the wheel
carries it as the data-only package ``iree_lab.notebook.frontend`` (a package-dir mapping, so
no copy step and editable installs resolve it too). The prebuilt JupyterLab extension that
opens ``.vmfb`` files goes where JupyterLab looks for prebuilt extensions
(``share/jupyter/labextensions/iree-lab-vmfb``). Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
LABEXTENSION = Path("labextension/share/jupyter/labextensions/iree-lab-vmfb")


def _labextension_files():
    files = {}
    for path in sorted((HERE / LABEXTENSION).rglob("*")):
        if path.is_file():
            rel = path.relative_to(HERE)
            target = "share/jupyter/labextensions/iree-lab-vmfb/" + str(
                path.parent.relative_to(HERE / LABEXTENSION)).replace("\\", "/")
            files.setdefault(target.rstrip("/."), []).append(str(rel))
    return sorted(files.items())


setup(
    packages=[*find_packages(include=["iree_lab", "iree_lab.*"]), "iree_lab.notebook.frontend"],
    package_dir={"iree_lab.notebook.frontend": "widgets"},
    package_data={"iree_lab": ["samples/*.vmfb", "py.typed"],
                  "iree_lab.notebook.frontend": ["*.js", "*.css"]},
    data_files=_labextension_files(),
)
