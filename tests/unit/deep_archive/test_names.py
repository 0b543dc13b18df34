"""Zip member names: safe by the zip spec and unique within a bundle, whatever the S3 keys."""

from __future__ import annotations

import unicodedata

import pytest

from archiveflow.deep_archive.names import member_names


def test_ordinary_keys_keep_their_names():
    keys = ["logs/2026/a.csv", "logs/2026/b.csv", "ünïcode/näme.txt", "a b/c (1).txt"]
    assert member_names(keys) == keys


@pytest.mark.parametrize(("key", "name"), [
    ("/lead/slash", "lead/slash"), ("a//b", "a/b"), ("a/./b", "a/b"), ("x/../y", "x/%2E%2E/y"),
    ("..", "%2E%2E"), ("back\\slash", "back%5Cslash"), ("c\x00\x1f\x7fd", "c%00%1F%7Fd"), ("dir/", "dir"),
    ("/", "%2F"), ("./", "%2E%2F"), ("cafe\u0301", "caf\u00e9"),
])
def test_unsafe_keys_become_safe_names(key, name):
    assert member_names([key]) == [name]


def test_colliding_keys_get_unique_names_and_no_file_is_also_a_folder():
    keys = ["a", "a/b", "a//b", "a~1", "dir/", "dir/x", "café", unicodedata.normalize("NFD", "café"), "R.txt",
            "r.txt", "r~1.txt"]
    names = member_names(keys)
    assert len(set(n.casefold() for n in names)) == len(keys)
    folders = {n.casefold().rsplit("/", i)[0] for n in names for i in range(1, n.count("/") + 1)}
    assert not folders & {n.casefold() for n in names}
    assert names[:3] == ["a~2", "a/b", "a/b~1"]  # "a" is a folder here, "a~1" is taken by a key
    assert names[4:6] == ["dir~1", "dir/x"]


def test_names_are_the_same_on_every_call():
    keys = ["a", "a/b", "x\\y", "x%5Cy"]
    assert member_names(keys) == member_names(list(keys))
