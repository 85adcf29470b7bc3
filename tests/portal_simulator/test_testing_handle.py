"""The test handle other suites use: a threaded simulator for synchronous tests."""

from __future__ import annotations

import httpx
import pytest

from portal_simulator.testing import running_simulator_in_thread

pytestmark = pytest.mark.unit


def test_a_threaded_simulator_serves_and_is_driven_by_a_blocking_admin() -> None:
    with running_simulator_in_thread(api_key="k") as portal:
        candidate = portal.admin.seed_candidate()
        response = httpx.get(
            f"{portal.base_url}/v1/candidates/{candidate['id']}", headers={"authorization": "Bearer k"}
        )
        assert response.status_code == 200
        assert portal.admin.stats()["requests"]["GET /v1/candidates/{cand_id}"]["total"] == 1
