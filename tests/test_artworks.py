"""The artworks behind the styles, and which of them may ship with the package."""

from __future__ import annotations

from live_nst.export.artworks import ARTWORKS, shippable, unshippable


def test_every_shared_artwork_is_described(shared_data):
    stems = {p.stem for p in (shared_data / "styles").glob("*.jpg")}
    assert stems == set(ARTWORKS)
    for name, entry in ARTWORKS.items():
        assert entry["artwork"] == f"{name}.jpg" and entry["title"] and entry["license"]


def test_only_public_domain_artworks_ship():
    assert shippable("starry_night") and shippable("udnie")
    assert not shippable("la_muse") and not shippable("candy") and not shippable("no_such_style")
    assert unshippable(["starry_night", "la_muse", "no_such_style"]) == {
        "la_muse": "in copyright", "no_such_style": "not in the artwork list"}
    assert unshippable(["great_wave", "udnie"]) == {}
