import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_user


@pytest.fixture
def staff():
    # Reading the ledger takes a payout role's view permissions (a staff flag alone grants nothing).
    return make_user("finance", is_staff=True, groups=("Payout approvers",))


@pytest.fixture
def api(staff):
    """A staff client authenticated by token, as scripts use the API."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client


def walk(client, url, params=None):
    """Every page of a cursor-paginated list, following `next`: (results in order, number of pages)."""
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    pages, results = 1, list(response.json()["results"])
    while response.json()["next"]:
        response = client.get(response.json()["next"])
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"next", "previous", "results"}
        results.extend(response.json()["results"])
        pages += 1
    return results, pages
