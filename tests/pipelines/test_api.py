"""ERP API: order proposals per dealer, key check, health, picking up a new run."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pipelines.api.app import create_app
from pipelines.settings import ConfigError, load_settings
from published_fixture import API_KEY, RUN_A, RUN_B, build_workspace, publish_run

HEADERS = {"X-API-Key": API_KEY}


@pytest.fixture()
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPLYPLAN_API_KEY", raising=False)
    return load_settings(build_workspace(tmp_path))


@pytest.fixture()
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def test_proposals_are_the_dealers_plan_rows_of_the_latest_run(client):
    resp = client.get("/v1/order-proposals", params={"dealer": "DLR-N01"}, headers=HEADERS)
    assert resp.status_code == 200
    body = resp.json()
    assert body["run_id"] == RUN_B
    assert body["as_of"] == "2024-02-05"
    assert body["dealer"] == "DLR-N01"
    # Run B ships SKU-0001 (14) on 02-05 and SKU-0002 (4) on 02-12 to DLR-N01; sorted by date.
    assert [(ln["sku"], ln["qty"], ln["ship_date"], ln["arrival_date"]) for ln in body["lines"]] == [
        ("SKU-0001", 14.0, "2024-02-05", "2024-02-12"),
        ("SKU-0002", 4.0, "2024-02-12", "2024-02-19"),
    ]
    assert {ln["run_id"] for ln in body["lines"]} == {RUN_B}
    assert [ln["reason"] for ln in body["lines"]] == ["below safety stock", "below min"]
    assert {ln["origin"] for ln in body["lines"]} == {"DC-NORTH"}


def test_sku_and_run_filters(client):
    resp = client.get("/v1/order-proposals", params={"dealer": "DLR-N01", "sku": "SKU-0002"}, headers=HEADERS)
    assert [ln["sku"] for ln in resp.json()["lines"]] == ["SKU-0002"]
    resp = client.get("/v1/order-proposals", params={"dealer": "DLR-S01", "run_id": RUN_A}, headers=HEADERS)
    assert resp.status_code == 200
    body = resp.json()
    assert body["run_id"] == RUN_A
    assert [(ln["qty"], ln["ship_date"]) for ln in body["lines"]] == [(10.0, "2024-01-15")]
    missing = client.get("/v1/order-proposals", params={"dealer": "DLR-S01", "run_id": "20990101T000000Z-ffffff"},
                         headers=HEADERS)
    assert missing.status_code == 404
    # Anything that is not a run id never reaches the file system.
    sneaky = client.get("/v1/order-proposals", params={"dealer": "DLR-S01", "run_id": "../../etc"}, headers=HEADERS)
    assert sneaky.status_code == 422


def test_known_dealer_without_lines_gets_an_empty_list(settings, tmp_path):
    import pandas as pd

    loc = pd.read_csv(settings.data_dir / "locations.csv")
    extra = pd.DataFrame([{"location": "DLR-N03", "kind": "dealer", "region": "north", "parent": "DC-NORTH", "vmi": True}])
    pd.concat([loc, extra]).to_csv(settings.data_dir / "locations.csv", index=False)
    with TestClient(create_app(settings)) as c:
        resp = c.get("/v1/order-proposals", params={"dealer": "DLR-N03"}, headers=HEADERS)
    assert resp.status_code == 200
    assert resp.json()["lines"] == []


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": API_KEY + "x"}])
def test_missing_or_wrong_key_is_401(client, headers):
    resp = client.get("/v1/order-proposals", params={"dealer": "DLR-N01"}, headers=headers)
    assert resp.status_code == 401
    assert "X-API-Key" in resp.json()["detail"]


def test_unknown_dealer_is_404_with_a_clear_message(client):
    resp = client.get("/v1/order-proposals", params={"dealer": "DLR-X99"}, headers=HEADERS)
    assert resp.status_code == 404
    assert "unknown dealer 'DLR-X99'" in resp.json()["detail"]
    # A DC receives transfers in the plan but is not a dealer.
    resp = client.get("/v1/order-proposals", params={"dealer": "DC-SOUTH"}, headers=HEADERS)
    assert resp.status_code == 404
    assert "is a dc, not a dealer" in resp.json()["detail"]


def test_env_key_overrides_config_key(settings, monkeypatch):
    monkeypatch.setenv("SUPPLYPLAN_API_KEY", "env-key-0123456789abcdef")
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/order-proposals", params={"dealer": "DLR-N01"}, headers=HEADERS).status_code == 401
        ok = c.get("/v1/order-proposals", params={"dealer": "DLR-N01"},
                   headers={"X-API-Key": "env-key-0123456789abcdef"})
        assert ok.status_code == 200


def test_no_key_configured_refuses_to_build_the_app(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPLYPLAN_API_KEY", raising=False)
    settings = load_settings(build_workspace(tmp_path, api_key=None))
    with pytest.raises(ConfigError, match="no API key configured"):
        create_app(settings)


def test_health_reports_latest_run_and_needs_no_key(client):
    resp = client.get("/v1/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["run_id"] == RUN_B
    assert body["as_of"] == "2024-02-05"
    assert 0 <= body["age_seconds"] < 600


def test_nothing_published_is_503(tmp_path, monkeypatch):
    from published_fixture import write_config, write_data_dir

    monkeypatch.delenv("SUPPLYPLAN_API_KEY", raising=False)
    data_dir = write_data_dir(tmp_path / "data")
    settings = load_settings(write_config(tmp_path, data_dir, tmp_path / "out", API_KEY))
    with TestClient(create_app(settings)) as c:
        health = c.get("/v1/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert "no published run" in health.json()["reason"]
        resp = c.get("/v1/order-proposals", params={"dealer": "DLR-N01"}, headers=HEADERS)
        assert resp.status_code == 503
        assert "no published run" in resp.json()["detail"]
        # The key is checked before anything else is revealed.
        assert c.get("/v1/order-proposals", params={"dealer": "DLR-N01"}).status_code == 401


def test_a_new_publish_is_served_without_restart(client, settings):
    first = client.get("/v1/order-proposals", params={"dealer": "DLR-N02"}, headers=HEADERS).json()
    assert first["run_id"] == RUN_B
    run_c = "20240212T020000Z-cccccc"
    publish_run(settings.output_dir, run_c, "2024-02-12", settings.data_dir, forecast_start="2024-02-12",
                plan_qty=[1.0, 2.0, 33.0, 4.0, 5.0])
    second = client.get("/v1/order-proposals", params={"dealer": "DLR-N02"}, headers=HEADERS).json()
    assert second["run_id"] == run_c
    assert [(ln["qty"], ln["run_id"]) for ln in second["lines"]] == [(33.0, run_c)]
    assert client.get("/v1/health").json()["run_id"] == run_c


def test_openapi_documents_schemas_and_key(client):
    doc = client.get("/openapi.json").json()
    assert {"OrderProposals", "ProposalLine", "Health"} <= set(doc["components"]["schemas"])
    assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
