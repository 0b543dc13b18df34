"""The deflate level comes from the cost model: CPU paid once on Fargate against storage every month."""

from __future__ import annotations

from archiveflow.deep_archive import cost
from archiveflow.deep_archive.plan import summary

GIB = 2**30


def test_a_longer_retention_never_chooses_a_faster_bigger_level():
    for storage_class in ("DEEP_ARCHIVE", "GLACIER", "STANDARD_IA"):
        chosen = [cost.pack_level(storage_class, months) for months in (1, 6, 12, 36, 84, 240, 1200)]
        outputs = [cost.PACK_LEVELS[level][1] for level in chosen]
        assert outputs == sorted(outputs, reverse=True), (storage_class, chosen)


def test_the_chosen_level_pays_for_its_cpu_with_the_storage_it_saves():
    for months in (1, 6, 84, 1200):
        figures = cost.packing("DEEP_ARCHIVE", months, 100 * GIB)
        assert figures["extra_compute_usd"] <= figures["storage_saved_usd"]
        for level, (cpu_seconds, _) in cost.PACK_LEVELS.items():  # and no other fast enough level costs less
            assert cpu_seconds * 2 > cost.ZIP_R_CPU_SECONDS_PER_GIB or sum(cost.packing_usd(level, "DEEP_ARCHIVE", months, 100 * GIB)) >= (
                figures["compute_usd"] + figures["storage_usd"] - 1e-4)


def test_deep_archive_bills_six_months_however_short_the_retention():
    assert cost.packing_usd(6, "DEEP_ARCHIVE", 1, GIB) == cost.packing_usd(6, "DEEP_ARCHIVE", 6, GIB)


def test_the_approval_summary_shows_the_level_and_what_it_costs():
    document = {
        "plan_id": "p1", "requests": [], "cost": {},
        "totals": {"files": 10, "bytes": 10 * GIB, "bundles": 1, "units": 1, "indexed": 0, "unreadable_class": 0},
        "packing": [cost.packing("DEEP_ARCHIVE", 84, 10 * GIB)],
    }
    figures = document["packing"][0]
    [line] = [line for line in summary(document).splitlines() if line.startswith("- packing for")]
    assert line.startswith(f"- packing for 84 months in DEEP_ARCHIVE: deflate level {figures['deflate_level']}, ")
    assert f"${figures['compute_usd']:,.4f} of Fargate CPU once" in line
    assert f"${figures['storage_saved_usd']:,.4f} less storage" in line


def test_no_level_slower_than_twice_zip_r_per_core_is_chosen():
    for months in (1, 84, 1200):
        cpu_seconds, _ = cost.PACK_LEVELS[cost.pack_level("DEEP_ARCHIVE", months)]
        assert cpu_seconds * 2 <= cost.ZIP_R_CPU_SECONDS_PER_GIB
    assert cost.pack_level("DEEP_ARCHIVE", cost.DEFAULT_RETENTION_MONTHS) == 6
