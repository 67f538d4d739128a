"""Bearer tokens, the error shape, the OpenAPI document, the language of answers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import ApiToken, Officer

from .conftest import Api, error_of


def test_no_token_is_401_with_a_bearer_challenge(world):
    response = world.anonymous().get("/cases")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer smo_not-a-real-token", "Bearer nonsense",
                                    "Basic dXNlcjpwYXNz", "Bearer", "smo_abc"])
def test_a_bad_token_is_401(world, client, header):
    world.officer()
    response = client.get("/api/v1/cases", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert error_of(response)["code"] == "invalid_token"


def test_an_expired_token_is_401(world, client, app):
    username, token = world.officer()
    assert Api(client, token).get("/cases").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(ApiToken).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        db.session.commit()
    response = Api(client, token).get("/cases")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_401(world, client):
    username, token = world.officer()
    assert Api(client, token).get("/stats").status_code == 200
    world.revoke_all(username)
    response = Api(client, token).get("/stats")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"


def test_a_deactivated_account_s_token_is_401(world, client, app):
    username, token = world.officer()
    with app.app_context():
        db.session.execute(sa.update(Officer).where(Officer.username == username)
                           .values(active=False))
        db.session.commit()
    assert Api(client, token).get("/cases").status_code == 401


def test_every_api_route_needs_a_token(world, client, app):
    reference = world.case()
    anonymous = world.anonymous()
    for method, path in [("get", "/cases"), ("get", f"/cases/{reference}"),
                         ("post", f"/cases/{reference}/transitions"),
                         ("post", f"/cases/{reference}/reopen"),
                         ("post", f"/cases/{reference}/referrals"),
                         ("post", f"/cases/{reference}/services"),
                         ("post", f"/cases/{reference}/appointments"),
                         ("post", f"/cases/{reference}/visits"),
                         ("post", f"/cases/{reference}/notes"),
                         ("post", f"/cases/{reference}/link-codes"),
                         ("get", "/referrals"), ("post", "/referrals/1/accept"),
                         ("post", "/referrals/1/decline"), ("post", "/invitations"),
                         ("get", "/stats")]:
        response = getattr(anonymous, method)(path)
        assert response.status_code == 401, (method, path)
        assert error_of(response)["code"] == "unauthorized"


def test_malformed_json_is_400_bad_json(world, learn):
    reference = world.case()
    response = learn.client.post(f"/api/v1/cases/{reference}/transitions",
                                 data='{"to": "verifying",', headers={
                                     **learn.headers(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_json"


def test_a_body_that_is_not_an_object_is_422(world, learn):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/transitions", ["verifying"])
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid"


def test_unknown_fields_and_missing_ones_are_422_with_the_fields(world, learn):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/transitions", {"stage": "verifying"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"to", "stage"}


def test_unknown_paths_and_methods_inside_the_api_answer_in_its_shape(learn, client):
    response = learn.get("/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    response = client.delete("/api/v1/cases", headers=learn.headers())
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_errors_outside_the_api_are_left_as_they_were(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "html" in response.content_type
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_the_openapi_document_is_generated_with_bearer_security(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "smo_ token"}
    assert spec["security"] == [{"bearerAuth": []}]
    paths = spec["paths"]
    for path in ("/api/v1/cases", "/api/v1/cases/{ref}", "/api/v1/cases/{ref}/transitions",
                 "/api/v1/cases/{ref}/reopen", "/api/v1/cases/{ref}/referrals",
                 "/api/v1/referrals", "/api/v1/referrals/{referral_id}/accept",
                 "/api/v1/referrals/{referral_id}/decline", "/api/v1/cases/{ref}/services",
                 "/api/v1/cases/{ref}/appointments", "/api/v1/cases/{ref}/visits",
                 "/api/v1/cases/{ref}/notes", "/api/v1/invitations",
                 "/api/v1/cases/{ref}/link-codes", "/api/v1/stats"):
        assert path in paths, path
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert "swagger" not in client.get("/api/v1/openapi.json").get_data(as_text=True).lower()


@pytest.mark.parametrize(("accept", "language"), [("en", "en"), ("th", "th"),
                                                  ("en-US,en;q=0.9", "en"), ("fr", "th")])
def test_answers_say_the_language_chosen_from_accept_language(world, client, accept,
                                                              language):
    _username, token = world.officer()
    response = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}",
                                                     "Accept-Language": accept})
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language


def test_error_messages_are_gettext_messages_in_english_by_default_for_en(world):
    response = world.anonymous().get("/cases")
    assert error_of(response)["message"] == "A valid bearer token is required."
    assert response.headers["Content-Language"] == "en"


def test_error_messages_follow_accept_language(world, client):
    english = client.get("/api/v1/cases", headers={"Accept-Language": "en"}).get_json()
    thai = client.get("/api/v1/cases", headers={"Accept-Language": "th"}).get_json()
    assert english["error"]["code"] == thai["error"]["code"] == "unauthorized"
    assert english["error"]["message"] == "A valid bearer token is required."
    assert re.search(r"[\u0E00-\u0E7F]", thai["error"]["message"])
    _username, token = world.officer()
    reference = world.case()
    response = client.post(f"/api/v1/cases/{reference}/transitions", json={"to": "closed"},
                           headers={"Authorization": f"Bearer {token}",
                                    "Accept-Language": "th"})
    assert response.status_code == 409
    assert re.search(r"[\u0E00-\u0E7F]", error_of(response)["message"])
