"""Sphinx configuration of skmmoe's documentation site.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(what CI runs). The gallery runs every script in ``examples/`` in its fast mode
(``SKMMOE_EXAMPLES_FAST=1``, set below) and shows its output and plots.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import skmmoe

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The gallery runs the examples in their fast mode, as the tests do.
os.environ.setdefault("SKMMOE_EXAMPLES_FAST", "1")
# docs/sphinxext holds the gallery's helpers, named by string in the gallery's
# settings so that Sphinx can cache them. The package itself comes from the
# environment (``pip install -e .``).
sys.path.insert(0, str(DOCS / "sphinxext"))

project = "skmmoe"
author = "The skmmoe developers"
copyright = "2026, The skmmoe developers"
release = skmmoe.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
root_doc = "index"
default_role = "literal"
# Warnings are errors in CI (-W): a broken cross-reference fails the build.
nitpicky = False

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No intersphinx: the build must not need the network (CI has none).


sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r".*\.py$",
    "ignore_pattern": r"(__init__|_fast)\.py$",
    "reset_argv": "gallery_argv.output_dir_argv",
    # Each API page lists the examples that use its object.
    "doc_module": ("skmmoe",),
    "backreferences_dir": "generated/backreferences",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "plot_gallery": "True",
    "remove_config_comments": True,
    "min_reported_time": 1,
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skmmoe {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_show_sourcelink = False


def _check_repr_links(app, exception):
    """Each estimator's HTML repr links to a page this build wrote."""
    if exception is not None or app.builder.name != "html":
        return
    from sphinx.util import logging

    from skmmoe._docs import DOCS_URL

    logger = logging.getLogger(__name__)
    for cls in (skmmoe.MMOEEstimator, skmmoe.MMOEClassifier, skmmoe.MMOERegressor):
        link = cls()._get_doc_link()
        page = Path(app.outdir) / link.removeprefix(DOCS_URL)
        if not link.startswith(DOCS_URL) or not page.is_file():
            logger.warning("%s's HTML repr links to %s: no such page", cls, link)


def setup(app):
    app.connect("build-finished", _check_repr_links)
