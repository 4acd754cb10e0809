import pytest
from conftest import signin


@pytest.fixture
def admin_client(app):
    client = app.test_client()
    signin(client, "admin@example.com")
    return client
