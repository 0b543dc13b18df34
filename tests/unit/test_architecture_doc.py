"""ARCHITECTURE.md stays true: every path it cites exists, every dotted name imports, and every
other name it cites in backticks is defined or used in the code."""

from __future__ import annotations

import importlib
import keyword
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "ARCHITECTURE.md").read_text()
SPANS = re.findall(r"`([^`]+)`", DOC)
CODE = "\n".join(p.read_text() for folder in ("plugins", "dags", "devstack", "tests")
                 for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".yaml"))


def cited_paths() -> list[str]:
    return sorted({span for span in SPANS if "/" in span and "<" not in span and " " not in span})


def cited_names() -> list[str]:
    names = set()
    for span in SPANS:
        if "/" in span or "<" in span:
            continue
        names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", span))
    return sorted(n for n in names if not keyword.iskeyword(n))


@pytest.mark.parametrize("path", cited_paths())
def test_cited_path_exists(path):
    assert (ROOT / path.rstrip("/")).exists(), f"ARCHITECTURE.md cites {path}, which does not exist"


@pytest.mark.parametrize("name", cited_names())
def test_cited_name_exists(name):
    if name.startswith("archiveflow."):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            module, _, attribute = name.rpartition(".")
            assert hasattr(importlib.import_module(module), attribute), f"{module} has no {attribute}"
        return
    for part in name.split("."):
        assert re.search(rf"\b{re.escape(part)}\b", CODE), f"ARCHITECTURE.md cites {name}, unknown to the code"


def test_the_doc_cites_enough_to_be_checked():
    assert len(cited_paths()) >= 8 and len(cited_names()) >= 15
