"""Artwork metadata for the 14 style images of the shared data set (``styles/`` in
``../shared/data``; see its SOURCES.md), keyed by file stem, which is also the style name
a training run gives the style. The exporter writes these fields into a model's
``live_nst.styles`` metadata, so a user sees what a style is and under what terms.

``license`` is the status of the ARTWORK, not of the network: only styles whose artwork
is in the public domain (everywhere, or at least in the US) are candidates for the styles
the package ships; see :func:`shippable` (the pack builder refuses any other).
"""

from __future__ import annotations

PUBLIC_DOMAIN = "public domain"
PUBLIC_DOMAIN_US = "public domain in the US"
IN_COPYRIGHT = "in copyright"
UNKNOWN = "unknown"


def _entry(title: str, artist: str, year: str, license: str, stem: str) -> dict[str, str]:
    return {"title": title, "artist": artist, "year": year, "license": license, "artwork": f"{stem}.jpg"}


ARTWORKS: dict[str, dict[str, str]] = {
    "starry_night": _entry("The Starry Night", "Vincent van Gogh", "1889", PUBLIC_DOMAIN, "starry_night"),
    "great_wave": _entry("The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831", PUBLIC_DOMAIN,
                         "great_wave"),
    "the_scream": _entry("The Scream", "Edvard Munch", "1893", PUBLIC_DOMAIN, "the_scream"),
    "composition_vii": _entry("Composition VII", "Wassily Kandinsky", "1913", PUBLIC_DOMAIN, "composition_vii"),
    "shipwreck_of_the_minotaur": _entry("The Shipwreck of the Minotaur", "J. M. W. Turner", "", PUBLIC_DOMAIN,
                                        "shipwreck_of_the_minotaur"),
    "udnie": _entry("Udnie", "Francis Picabia", "1913", PUBLIC_DOMAIN_US, "udnie"),
    "woman_with_hat": _entry("Woman with a Hat", "Henri Matisse", "1905", PUBLIC_DOMAIN_US, "woman_with_hat"),
    "seated_nude": _entry("Seated Nude", "Pablo Picasso", "1909-10", PUBLIC_DOMAIN_US, "seated_nude"),
    "picasso_selfportrait_1907": _entry("Self-Portrait", "Pablo Picasso", "1907", PUBLIC_DOMAIN_US,
                                        "picasso_selfportrait_1907"),
    "la_muse": _entry("La Muse", "Pablo Picasso", "1935", IN_COPYRIGHT, "la_muse"),
    "rain_princess": _entry("Rain Princess", "Leonid Afremov", "", IN_COPYRIGHT, "rain_princess"),
    "mosaic": _entry("Mosaic (stained glass)", "unknown", "", UNKNOWN, "mosaic"),
    "candy": _entry("Candy", "unknown", "", UNKNOWN, "candy"),
    "feathers": _entry("Feathers (watercolour)", "unknown", "", UNKNOWN, "feathers"),
}


def shippable(name: str) -> bool:
    """Whether a style's artwork is public domain (at least in the US), so that a network
    trained on it may ship with the package."""
    entry = ARTWORKS.get(name)
    return entry is not None and entry["license"] in (PUBLIC_DOMAIN, PUBLIC_DOMAIN_US)


def unshippable(names: list[str]) -> dict[str, str]:
    """Style name -> its artwork's licence status, for each of ``names`` that may not ship."""
    return {name: ARTWORKS.get(name, {}).get("license", "not in the artwork list")
            for name in names if not shippable(name)}
