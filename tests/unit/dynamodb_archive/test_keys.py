"""Archive object keys: the seed's naming, reversible encoding of awkward values, S3's length limit."""

import re

import pytest

from archiveflow.dynamodb_archive.keys import MAX_KEY_BYTES, decode_object_key, object_key

PK_SK = ["PK", "SK"]
TYPES = {"PK": "S", "SK": "S"}


def key(pk, sk=None):
    keys = {"PK": pk if isinstance(pk, dict) else {"S": pk}}
    if sk is not None:
        keys["SK"] = sk if isinstance(sk, dict) else {"S": sk}
    return keys


def test_the_seeds_example_stays_exactly_that():
    assert object_key("dynamo-archive-poc", PK_SK, key("USER#123", "PROFILE")) == \
        "dynamo-archive-poc/PK_USER#123_SK_PROFILE.json"


def test_partition_key_comes_first_whatever_the_record_order():
    keys = {"SK": {"S": "PROFILE"}, "PK": {"S": "USER#123"}}
    assert object_key("t", PK_SK, keys) == "t/PK_USER#123_SK_PROFILE.json"


@pytest.mark.parametrize("value", ["a/b/../c", "tab\there", "nul\x00\x1f\x7f\x85", "100%", "under_score",
                                   "~tilde", "back\\slash", "ünïcødé ✓ 東京", " spaces ", "%41", "a_SK_b"])
def test_awkward_values_are_encoded_and_decode_back(value):
    name = object_key("orders", PK_SK, key(value, "x/y"))
    encoded = name.removeprefix("orders/")
    assert "/" not in encoded and encoded.isprintable()
    assert decode_object_key(name, TYPES) == ("orders", key(value, "x/y"))


def test_separators_inside_values_cannot_make_two_keys_meet():
    assert object_key("t", PK_SK, key("a_SK_b", "c")) != object_key("t", PK_SK, key("a", "b_SK_c"))


def test_binary_and_number_keys():
    name = object_key("t", PK_SK, key({"B": b"\x00\xff/_"}, {"N": "-12.5"}))
    assert name == "t/PK_~00ff2f5f_SK_-12.5.json"
    assert decode_object_key(name, {"PK": "B", "SK": "N"}) == ("t", key({"B": b"\x00\xff/_"}, {"N": "-12.5"}))


def test_attribute_names_are_encoded_too():
    name = object_key("t", ["order_no"], {"order_no": {"N": "7"}})
    assert name == "t/order%5Fno_7.json"
    assert decode_object_key(name, {"order_no": "N"}) == ("t", {"order_no": {"N": "7"}})


@pytest.mark.parametrize("filler", ["x", "/", "é", "東"])
def test_keys_beyond_s3s_limit_get_a_hashed_suffix(filler):
    long_pk = filler * (2048 // len(filler.encode()))  # a partition key may be 2,048 bytes
    first = object_key("table", PK_SK, key(long_pk, "a"))
    second = object_key("table", PK_SK, key(long_pk, "b"))
    assert first != second
    for name in (first, second):
        assert len(name.encode()) <= MAX_KEY_BYTES
        assert re.search(r"~sha256-[0-9a-f]{32}\.json$", name)
        assert not re.search(r"%(?![0-9A-F]{2})", name)  # never cut inside an escape
        assert decode_object_key(name, TYPES) is None  # the record holds the full key


def test_a_key_just_within_the_limit_is_not_hashed():
    room = MAX_KEY_BYTES - len("t/PK_.json")
    name = object_key("t", ["PK"], {"PK": {"S": "x" * room}})
    assert len(name.encode()) == MAX_KEY_BYTES and "~sha256-" not in name
