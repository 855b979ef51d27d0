"""The HSDS profile's plain parts: the rate limit's window, the page envelope, the served OpenAPI document."""

from __future__ import annotations

from services.resources.hsds_api import HsdsPageQuery, RateLimiter, official_openapi, profile_openapi
from services.resources.usecases.hsds import haversine_km
from services.resources.usecases.hsds import page_envelope as _page


def test_a_client_gets_its_limit_per_window_and_is_told_when_the_window_ends() -> None:
    limiter = RateLimiter(limit=2, window=60.0)

    assert limiter.retry_after("10.0.0.1", 100.0) is None
    assert limiter.retry_after("10.0.0.1", 101.0) is None
    assert limiter.retry_after("10.0.0.1", 110.0) == 50
    assert limiter.retry_after("10.0.0.2", 110.0) is None  # another client has its own count
    assert limiter.retry_after("10.0.0.1", 160.0) is None  # a new window


def test_a_limit_of_zero_never_limits() -> None:
    limiter = RateLimiter(limit=0)
    assert all(limiter.retry_after("10.0.0.1", float(i)) is None for i in range(1000))


def test_the_envelope_counts_pages_from_one() -> None:
    query = HsdsPageQuery(page=3, per_page=4)

    page = _page(10, query, [{"id": "a"}, {"id": "b"}])

    assert page == {"total_items": 10, "total_pages": 3, "page_number": 3, "size": 2, "first_page": False,
                    "last_page": True, "empty": False, "contents": [{"id": "a"}, {"id": "b"}]}
    assert _page(0, HsdsPageQuery(), [])["total_pages"] == 0


def test_the_served_openapi_is_the_official_one_with_server_info_and_the_3_0_x_fix() -> None:
    official = official_openapi()

    served = profile_openapi("https://directory.example.org/")

    assert served["servers"] == [{"url": "https://directory.example.org/hsds"}]
    assert served["paths"].keys() == official["paths"].keys()
    assert served["components"] == official["components"]
    sal = served["paths"]["/service_at_locations/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert sal["schema"]["$ref"].endswith("/compiled/service_at_location.json")
    differing = [p for p in official["paths"] if official["paths"][p] != served["paths"][p]]
    assert differing == ["/service_at_locations/{id}"]
    assert official_openapi()["paths"]["/service_at_locations/{id}"] == official["paths"]["/service_at_locations/{id}"]


def test_distances_are_great_circle_kilometres() -> None:
    assert haversine_km(38.6270, -90.1994, 38.6270, -90.1994) == 0
    assert 380 < haversine_km(38.6270, -90.1994, 39.0997, -94.5786) < 385  # St. Louis to Kansas City
