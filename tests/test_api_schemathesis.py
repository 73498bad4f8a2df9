"""Property-based fuzzing of every operation in the OpenAPI spec (schemathesis), against a real
uvicorn process: whatever a client sends, the answer is never a 5xx, and every 4xx is the
contract's error JSON. Examples per operation are bounded so this stays well under a minute."""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import Settings
from conftest import start_uvicorn, write_tiny_wordlists

ADMIN = "admin-key-fuzz"
H = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    wl = write_tiny_wordlists(tmp / "wordlists")
    srv = start_uvicorn(tmp, env={
        "MODERATION_API_KEYS": f"admin:{ADMIN}",
        "MODERATION_WORDLISTS": str(wl),
        "MODERATION_RATE_LIMIT_PER_SECOND": "100000",
        "MODERATION_RATE_LIMIT_BURST": "100000",
        "MODERATION_REDIS_URL": "",
    })
    yield srv
    srv.stop()


# The spec is the app's own (routes only; nothing starts until the lifespan runs).
schema = schemathesis.openapi.from_dict(create_app(Settings(api_keys=f"admin:{ADMIN}")).openapi())


def error_shape(ctx, response, case):
    """Every 4xx body is {"error": {"code", "message"}}."""
    if 400 <= response.status_code < 500 and response.status_code != 404 or (
            response.status_code == 404 and case.path.startswith("/v1/")):
        body = json.loads(response.content)
        assert set(body) == {"error"}, body
        assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case, fuzz_server):
    case.call_and_validate(base_url=fuzz_server.url, headers=H,
                           checks=[not_a_server_error, error_shape], timeout=30)
