"""The built documentation site shows the docstrings the API pages name.

`mkdocs build --strict` passing is not enough: a `::: module.Object` line
whose object cannot be found, or whose docstring fails to render, can still
leave a page without the text. This builds the site and reads the HTML.
"""

import html
import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(ROOT, "docs", "api")


def api_objects():
    """(page, dotted path) of every `::: path` line of docs/api/*.md."""
    for page in sorted(os.listdir(API)):
        with open(os.path.join(API, page), encoding="utf-8") as f:
            for line in f:
                if line.startswith(":::"):
                    yield page[: -len(".md")], line[3:].strip()


def resolve(dotted):
    try:
        return importlib.import_module(dotted)  # a module
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


def squeezed(text):
    """`text` without whitespace or backticks: rendering moves the spaces
    around code spans."""
    return "".join(text.replace("`", "").split())


def text_of(page_html):
    """The visible text of a page (tags dropped, entities decoded), squeezed."""
    page_html = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S)
    return squeezed(html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", folder],
        cwd=ROOT,
        check=True,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        timeout=600,
    )
    return folder


def test_every_api_object_renders_its_docstring(site):
    objects = list(api_objects())
    assert len(objects) > 20
    pages = {}
    missing = []
    for page, dotted in objects:
        if page not in pages:
            with open(os.path.join(site, "api", page, "index.html")) as f:
                pages[page] = text_of(f.read())
        summary = squeezed(inspect.getdoc(resolve(dotted)).split("\n\n")[0])
        name = dotted.rpartition(".")[2]
        # The heading names the object, the summary paragraph follows it.
        if name not in pages[page] or summary[:50] not in pages[page]:
            missing.append(f"{page}: {dotted}")
    assert missing == []
