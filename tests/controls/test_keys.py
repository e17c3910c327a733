"""API keys as a user meets them: creation, the errors for each bad key, model lists, projects, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.controls.conftest import ADMIN, admin, bearer, chat, make_key
from tests.helpers import ShipyardServer, drop_database, postgres_database


def test_bad_keys_get_401_that_say_why(controlled: ShipyardServer) -> None:
    url = controlled.url
    missing = chat(url, None)
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
    malformed = chat(url, None, headers={"Authorization": "Token abc"})
    assert malformed.status_code == 401 and "malformed" in malformed.json()["error"]["message"]
    unknown = chat(url, "sk-shp-not-a-real-key")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_api_key"

    expiring = make_key(url, name="short-lived", role="service", expires_at="2001-01-01T00:00:00Z")
    expired = chat(url, expiring["key"])
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "expired_api_key"

    key = make_key(url, name="to-revoke", role="service")
    assert chat(url, key["key"]).status_code == 200
    assert httpx.delete(f"{url}/api/keys/{key['id']}", headers=admin()).json()["status"] == "revoked"
    revoked = chat(url, key["key"])
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_key_is_stored_hashed_and_shown_by_prefix_only(controlled: ShipyardServer) -> None:
    key = make_key(controlled.url, name="listing", role="viewer")
    assert key["key"].startswith("sk-shp-") and key["key"].startswith(key["prefix"]) and len(key["prefix"]) < 16
    listed = httpx.get(controlled.url + "/api/keys", headers=admin()).json()["data"]
    mine = next(k for k in listed if k["id"] == key["id"])
    assert "key" not in mine and mine["prefix"] == key["prefix"]
    db = (controlled.data_dir / "shipyard.db").read_bytes()
    assert key["key"].encode() not in db


def test_cookie_and_x_api_key_work_too(controlled: ShipyardServer) -> None:
    key = make_key(controlled.url, name="browser", role="viewer")["key"]
    me = httpx.get(controlled.url + "/api/me", cookies={"shipyard_key": key}).json()
    assert me["role"] == "viewer" and me["open"] is False
    assert httpx.get(controlled.url + "/api/me", headers={"x-api-key": key}).status_code == 200


def test_model_list_of_a_key(controlled: ShipyardServer) -> None:
    key = make_key(controlled.url, name="only-a", role="service", models=["a"])["key"]
    assert chat(controlled.url, key, "a").status_code == 200
    refused = chat(controlled.url, key, "b")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed" and "'b'" in refused.json()["error"]["message"]
    client = openai.OpenAI(base_url=controlled.url + "/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["a"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("b")


def test_rotate_keeps_the_key_and_kills_the_old_secret(controlled: ShipyardServer) -> None:
    key = make_key(controlled.url, name="rotating", role="service")
    rotated = httpx.post(f"{controlled.url}/api/keys/{key['id']}/rotate", headers=admin()).json()
    assert rotated["id"] == key["id"] and rotated["key"] != key["key"]
    assert chat(controlled.url, key["key"]).status_code == 401
    assert chat(controlled.url, rotated["key"]).status_code == 200


def test_projects_never_see_each_others_records(controlled: ShipyardServer) -> None:
    red = make_key(controlled.url, name="red", role="developer", project="red")["key"]
    blue = make_key(controlled.url, name="blue", role="developer", project="blue")["key"]
    assert chat(controlled.url, red, content="red secret").status_code == 200
    assert chat(controlled.url, blue, content="blue secret").status_code == 200
    time.sleep(0.6)  # the batched writer
    red_rows = httpx.get(controlled.url + "/api/requests", headers=bearer(red)).json()["data"]
    blue_rows = httpx.get(controlled.url + "/api/requests", headers=bearer(blue)).json()["data"]
    assert red_rows and all(r["project_id"] == "red" for r in red_rows)
    assert blue_rows and all(r["project_id"] == "blue" for r in blue_rows)
    spend = httpx.get(controlled.url + "/api/spend?group_by=project", headers=bearer(red)).json()["data"]
    assert [row["project"] for row in spend] == ["red"]
    assert httpx.get(controlled.url + "/api/spend?project=blue", headers=bearer(red)).status_code == 400


def test_audit_log_records_who_did_what(controlled: ShipyardServer) -> None:
    key = make_key(controlled.url, name="audited", role="viewer")
    httpx.patch(f"{controlled.url}/api/keys/{key['id']}", json={"rpm": 5}, headers=admin())
    httpx.delete(f"{controlled.url}/api/keys/{key['id']}", headers=admin())
    entries = httpx.get(controlled.url + "/api/audit?limit=50", headers=admin()).json()["data"]
    mine = [(e["action"], e["detail"]) for e in entries if e["target_id"] == key["id"]]
    assert [a for a, _ in mine] == ["key.revoke", "key.update", "key.create"]
    assert mine[1][1] == {"rpm": 5}
    assert all(e["actor_key_id"] for e in entries if e["target_id"] == key["id"])


def test_bad_input_to_the_keys_api(controlled: ShipyardServer) -> None:
    r = httpx.post(controlled.url + "/api/keys", json={"name": "x", "role": "overlord"}, headers=admin())
    assert r.status_code == 400 and "unknown role" in r.json()["error"]["message"]
    r = httpx.post(controlled.url + "/api/keys", json={"name": "x", "rpm": -1}, headers=admin())
    assert r.status_code == 400 and r.json()["error"]["param"] == "rpm"
    assert httpx.delete(controlled.url + "/api/keys/key_nope", headers=admin()).status_code == 404


def shipyard(*args: str, url: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "SHIPYARD_API_KEY": key or ""}
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args, "--url", url], capture_output=True,
                          text=True, timeout=120, env=env)


def test_cli_keys_create_list_revoke(controlled: ShipyardServer) -> None:
    made = shipyard("keys", "create", "cli-made", "--role", "service", "--rpm", "100", "--model", "a",
                    url=controlled.url, key=ADMIN)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    key_id = made.stdout.split()[1]
    assert chat(controlled.url, secret).status_code == 200
    listed = shipyard("keys", "list", url=controlled.url, key=ADMIN)
    assert listed.returncode == 0 and key_id in listed.stdout and "rpm=100" in listed.stdout
    assert secret not in listed.stdout
    assert shipyard("keys", "revoke", key_id, url=controlled.url, key=ADMIN).returncode == 0
    assert chat(controlled.url, secret).status_code == 401
    denied = shipyard("keys", "list", url=controlled.url, key=secret)
    assert denied.returncode == 1 and "revoked" in denied.stderr and "Traceback" not in denied.stderr
    nokey = shipyard("keys", "list", url=controlled.url)
    assert nokey.returncode == 1 and "missing API key" in nokey.stderr


def test_first_start_prints_an_admin_key_once(tmp_path: Path) -> None:
    srv = ShipyardServer(tmp_path / "a", {"include_bundled_models": False}, env={"SHIPYARD_AUTH": "on"})
    try:
        lines = [line.strip() for line in srv.logs().splitlines() if line.strip().startswith("sk-shp-")]
        assert len(lines) == 1
        assert httpx.get(srv.url + "/api/keys").status_code == 401
        assert httpx.get(srv.url + "/api/keys", headers=bearer(lines[0])).status_code == 200
    finally:
        srv.stop()
    again = ShipyardServer(tmp_path / "a", {"include_bundled_models": False}, env={"SHIPYARD_AUTH": "on"})
    try:
        assert sum(line.strip().startswith("sk-shp-") for line in again.logs().splitlines()) == 1
    finally:
        again.stop()


def test_open_until_the_first_key(tmp_path: Path) -> None:
    srv = ShipyardServer(tmp_path / "open", {"include_bundled_models": False})
    try:
        assert httpx.get(srv.url + "/api/keys").status_code == 200
        made = httpx.post(srv.url + "/api/keys", json={"name": "first", "role": "admin"}).json()
        assert httpx.get(srv.url + "/api/keys").status_code == 401
        assert httpx.get(srv.url + "/api/keys", headers=bearer(made["key"])).status_code == 200
    finally:
        srv.stop()


@pytest.mark.redis
@pytest.mark.postgres
def test_revoked_key_stops_on_every_replica_at_once(tmp_path: Path, redis_prefix: str) -> None:
    db = postgres_database()
    env = {"SHIPYARD_DATABASE_URL": db, "SHIPYARD_REDIS_URL": "redis://127.0.0.1:6379/0",
           "SHIPYARD_REDIS_PREFIX": redis_prefix, "SHIPYARD_ADMIN_KEY": ADMIN,
           "SHIPYARD_CONTROL_POLL_INTERVAL": "30"}  # only pub/sub can be this quick
    config = {"include_bundled_models": False,
              "models": [{"name": "x", "provider": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}]}
    one = ShipyardServer(tmp_path / "one", config, env=env)
    two = ShipyardServer(tmp_path / "two", config, env=env)
    try:
        key = make_key(one.url, name="replicated", role="viewer")
        waited = 0.0
        while httpx.get(two.url + "/api/me", headers=bearer(key["key"])).status_code != 200:
            time.sleep(0.01)
            waited += 0.01
            assert waited < 2, "the new key never reached the other replica"
        httpx.delete(f"{one.url}/api/keys/{key['id']}", headers=admin()).raise_for_status()
        started = time.perf_counter()
        while httpx.get(two.url + "/api/me", headers=bearer(key["key"])).status_code != 401:
            assert time.perf_counter() - started < 0.5, "the revoked key still works on the other replica"
        assert time.perf_counter() - started < 0.5
    finally:
        one.stop()
        two.stop()
        drop_database(db)
