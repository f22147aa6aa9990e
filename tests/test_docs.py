"""The documentation site's pages: their ``>>>`` examples are doctests, so the
outputs they show are a run's; the site builds without warnings in CI (.ci/run)."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted([DOCS / "index.rst", *(DOCS / "user_guide").glob("*.rst")])


def test_every_user_guide_page_is_in_the_site():
    index = (DOCS / "user_guide" / "index.rst").read_text()
    for topic in ("tasks", "features", "training", "persistence", "scaling"):
        assert (DOCS / "user_guide" / f"{topic}.rst").is_file()
        assert f"   {topic}\n" in index


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    failures, attempted = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    if page.parent.name == "user_guide" and page.name != "index.rst":
        assert attempted > 0, f"{page.name} has no example"
    assert failures == 0, f"{page.name}: a doctest failed (see the output above)"


def test_estimator_html_repr_links_to_its_api_page():
    import skmmoe
    from skmmoe._docs import DOCS_URL

    for cls in (skmmoe.MMOEEstimator, skmmoe.MMOEClassifier, skmmoe.MMOERegressor):
        link = cls()._get_doc_link()
        assert link == f"{DOCS_URL}generated/skmmoe.{cls.__name__}.html"
        assert link in cls()._repr_html_()
        # The page is one that docs/api.rst generates.
        assert f"   {cls.__name__}\n" in (DOCS / "api.rst").read_text()


def test_readme_links_the_sites_pages():
    import re

    readme = (DOCS.parent / "README.md").read_text()
    targets = set(re.findall(r"\]\((docs/[^)]+)\)", readme))
    expected = {f"docs/user_guide/{p.name}" for p in PAGES if p.parent.name != "docs"}
    expected -= {"docs/user_guide/index.rst"}
    assert expected | {"docs/api.rst"} <= targets
    for target in targets:
        assert (DOCS.parent / target).is_file(), target
