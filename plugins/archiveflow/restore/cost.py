"""What a restore costs: retrieval (per GB and per request, by class and tier), the restored copies
kept for `restore_days`, and the GET/PUT requests of the extraction.

List prices of us-east-1 (USD, 2025); other regions differ by a few percent. A restore always
retrieves a whole bundle, however few of its members are asked for.
"""

from __future__ import annotations

GB = 1024**3
# (per GB retrieved, per 1,000 restore requests)
RETRIEVAL = {
    ("GLACIER", "Expedited"): (0.03, 10.0),
    ("GLACIER", "Standard"): (0.01, 0.05),
    ("GLACIER", "Bulk"): (0.0, 0.0),
    ("DEEP_ARCHIVE", "Standard"): (0.02, 0.10),
    ("DEEP_ARCHIVE", "Bulk"): (0.0025, 0.025),
    # Intelligent-Tiering's archive tiers bill no retrieval.
}
STANDARD_GB_MONTH = 0.023
GET_PER_1000 = 0.0004
PUT_PER_1000 = 0.005


def estimate(bundles: list[dict], tier: str, restore_days: int, files: int) -> dict:
    """USD by item for restoring `bundles` (describe() dicts) and writing `files` files."""
    restored = [b for b in bundles if b["status"] == "none"]
    by_class: dict[str, float] = {}
    for bundle in restored:
        per_gb, per_request = RETRIEVAL.get((bundle["storage_class"], tier), (0.0, 0.0))
        by_class[bundle["storage_class"]] = by_class.get(bundle["storage_class"], 0.0) + (
            bundle["size"] / GB * per_gb + per_request / 1000)
    held_gb = sum(b["size"] for b in bundles if b["status"] in ("none", "in_progress")) / GB
    copies = held_gb * STANDARD_GB_MONTH * restore_days / 30
    requests = files * (GET_PER_1000 + PUT_PER_1000) / 1000
    retrieval = sum(by_class.values())
    return {
        "tier": tier,
        "bundles_restored": len(restored),
        "bytes_restored": sum(b["size"] for b in restored),
        "retrieval_usd": {name: round(value, 6) for name, value in sorted(by_class.items())},
        "restored_copies_usd": round(copies, 6),
        "requests_usd": round(requests, 6),
        "total_usd": round(retrieval + copies + requests, 6),
    }
