"""Signing in to the console the way a browser does, for TestClient tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import STAFF_PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str = STAFF_PASSWORD) -> str:
    """Sign in as `login`; returns the session's CSRF token for later posts."""
    page = client.get("/console")
    answer = client.post(
        "/console/login",
        data={"login": login, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/console/home").text)
