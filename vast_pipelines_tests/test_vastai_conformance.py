"""Every Vast.ai call the project makes is the call Vast.ai's official client (``vastai``) makes for it.

Both clients talk to the same loopback ``VastServer``; the recorded requests are compared by method, path,
query and JSON body keys (and values where both send the same ones). The official client is given the
fake's URL and key directly, and runs with a temporary HOME and no VAST_* variables, so it never reads or
writes a real key file; a socket guard fails the test if anything but 127.0.0.1 is reached.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, date, datetime

import pytest

from vast_pipelines.resources.vast import VastAIError, VastAIResource
from vast_pipelines_tests.fakes import VastServer

KEY = "vast-conformance-key"
# Where Vast.ai's docs and the official CLI disagree the project follows the docs (resources/vast/resource.py).
DOCUMENTED = ("/api/v0/autojobs/", "/api/v0/workergroups/")


@pytest.fixture
def loopback_only(monkeypatch, tmp_path):
    """A temporary HOME, no VAST_* variables, and no connection to anything but 127.0.0.1."""
    for name in ("VAST_API_KEY", "VAST_URL", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    reached: list[str] = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        reached.append(host)
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a Vast.ai client tried to reach {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield reached
    assert reached and set(reached) <= {"127.0.0.1"}
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*vast_api_key*"))


@pytest.fixture
def server():
    with VastServer(api_key=KEY) as s:
        yield s


def official(server: VastServer):
    from vastai import VastAI

    sdk = VastAI(api_key=KEY, server_url=server.url, retry=1)
    assert sdk.client.server_url == server.url  # so the autoscaler calls go to the fake too, not run.vast.ai
    return sdk


def ours(server: VastServer) -> VastAIResource:
    return VastAIResource(api_url=server.url, autoscaler_url=server.url, api_key=KEY)


def recorded(server: VastServer, since: int) -> list[dict]:
    """The calls after ``since`` as comparable records."""
    out = []
    for call in server.calls[since:]:
        body = call.json() if call.raw else None
        out.append(
            {
                "method": call.method,
                "path": re.sub(r"/\d+/$", "/{id}/", call.path.replace(*DOCUMENTED)),
                "id": (re.findall(r"/(\d+)/$", call.path) or [None])[0],
                "query": {k: v for k, v in call.query.items()},
                "keys": sorted(body) if isinstance(body, dict) else None,
                "body": body,
                "auth": call.headers.get("authorization"),
            }
        )
    return out


def compare(server: VastServer, theirs_fn, ours_fn, *, same_values: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Run the official call, then ours, and check one request each that agree."""
    start = len(server.calls)
    theirs_fn()
    [theirs] = recorded(server, start)
    start = len(server.calls)
    ours_fn()
    [mine] = recorded(server, start)
    for part in ("method", "path", "query", "keys", "auth"):
        assert mine[part] == theirs[part], (part, mine[part], theirs[part])
    for key in same_values:
        assert mine["body"][key] == theirs["body"][key], key
    return theirs, mine


def _ids(server: VastServer) -> tuple[int, int]:
    endpoint_id = server.add_endpoint("llama-3-8b", workers=[{"id": 9, "status": "idle", "measured_perf": 245.0}])
    group_id = server._new_id()
    server.workergroups[group_id] = {"id": group_id, "endpoint_id": endpoint_id, "search_params": "gpu_name=RTX_4090"}
    return endpoint_id, group_id


def test_list_calls_match_and_the_fake_answers_what_the_official_client_parses(loopback_only, server):
    endpoint_id, group_id = _ids(server)
    rows = {}
    theirs, mine = compare(
        server,
        lambda: rows.setdefault("endpoints", official(server).show_endpoints()),
        lambda: rows.setdefault("ours", ours(server).list_endpoints()),
        same_values=("client_id", "api_key"),
    )
    assert theirs["method"] == "GET" and theirs["body"] == {"client_id": "me", "api_key": KEY}
    # The official client parses the same rows (it drops the endpoint's own key, as the project does).
    assert [r["endpoint_name"] for r in rows["endpoints"]] == ["llama-3-8b"] and "api_key" not in rows["endpoints"][0]
    assert [e.id for e in rows["ours"]] == [endpoint_id]

    theirs, _ = compare(
        server,
        lambda: rows.setdefault("groups", official(server).show_workergroups()),
        lambda: rows.setdefault("our_groups", ours(server).list_workergroups()),
        same_values=("client_id", "api_key"),
    )
    assert [g["id"] for g in rows["groups"]] == [group_id] == [g["id"] for g in rows["our_groups"]]

    theirs, _ = compare(
        server,
        lambda: rows.setdefault("workers", official(server).get_endpoint_workers(endpoint_id)),
        lambda: rows.setdefault("our_workers", ours(server).endpoint_workers(endpoint_id)),
        same_values=("id",),
    )
    assert rows["workers"][0]["measured_perf"] == 245.0 == rows["our_workers"][0].measured_perf


def test_create_update_delete_calls_match(loopback_only, server):
    endpoint_id, group_id = _ids(server)
    fields = {"min_load": 0.0, "cold_workers": 1, "max_workers": 3, "inactivity_timeout": 300}
    theirs, mine = compare(
        server,
        lambda: official(server).create_endpoint(endpoint_name="qwen", **fields),
        lambda: ours(server).create_endpoint({"endpoint_name": "qwen", **fields}),
        same_values=("client_id", "endpoint_name", "autoscaler_instance", *fields),
    )
    assert theirs["method"] == "POST" and theirs["path"] == "/api/v0/endptjobs/"

    theirs, mine = compare(
        server,
        lambda: official(server).update_endpoint(endpoint_id, min_load=245.0),
        lambda: ours(server).update_endpoint(endpoint_id, {"min_load": 245.0}),
    )
    # Every field is sent, the unset ones as null, with client_id and endptjob_id, as the official client does.
    assert mine["body"] == theirs["body"]
    assert mine["body"]["endptjob_id"] == endpoint_id and mine["body"]["max_workers"] is None
    assert server.endpoints[endpoint_id]["min_load"] == 245.0 and server.endpoints[endpoint_id]["max_workers"] == 3

    theirs, mine = compare(
        server,
        lambda: official(server).update_endpoint(endpoint_id, endpoint_state="stopped"),
        lambda: ours(server).set_endpoint_state(endpoint_id, "stopped"),
    )
    assert mine["body"] == theirs["body"] and server.endpoints[endpoint_id]["endpoint_state"] == "stopped"
    assert mine["id"] == theirs["id"] == str(endpoint_id) and mine["path"] == "/api/v0/endptjobs/{id}/"

    group = {"endpoint_id": endpoint_id, "endpoint_name": "llama-3-8b", "launch_args": "--image img:1 --disk 64"}
    query = "gpu_name=RTX_4090 verified=True rentable=True rented=False"
    theirs, mine = compare(
        server,
        lambda: official(server).create_workergroup(search_params="gpu_name=RTX_4090", **group),
        lambda: ours(server).create_workergroup({**group, "search_params": query}),
    )
    # The official client appends its default filter; the project sends the same query whole.
    assert mine["body"] == theirs["body"] and theirs["path"] == "/api/v0/workergroups/"

    theirs, mine = compare(
        server,
        lambda: official(server).update_workergroup(
            group_id, search_params="gpu_name=RTX_A6000", no_default=True, endpoint_id=endpoint_id
        ),
        lambda: ours(server).update_workergroup(
            group_id, {"search_params": "gpu_name=RTX_A6000", "endpoint_id": endpoint_id}
        ),
    )
    assert mine["body"] == theirs["body"] and mine["body"]["autojob_id"] == group_id
    assert server.workergroups[group_id]["search_params"] == "gpu_name=RTX_A6000"

    other = server.add_endpoint("other")
    theirs, mine = compare(
        server,
        lambda: official(server).delete_endpoint(other),
        lambda: ours(server).delete_endpoint(endpoint_id),
    )
    assert mine["body"] == {"client_id": "me", "endptjob_id": endpoint_id}
    assert not ({endpoint_id, other} & set(server.endpoints))


def test_billing_calls_match_and_read_what_the_official_client_reads(loopback_only, server):
    for day, amount in ((date(2026, 11, 20), 4.25), (date(2026, 11, 21), 3.0), (date(2026, 11, 22), 9.0)):
        server.add_charge(day, amount)
    server.add_charge(date(2026, 11, 20), 50.0, kind="instance")
    start = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    end = start + 86_399  # one UTC day, as the project asks day by day
    got = {}
    theirs, mine = compare(
        server,
        lambda: got.setdefault(
            "theirs",
            official(server).show_invoices_v1(
                charges=True, start_date=start, end_date=end, limit=100, charge_type=["serverless"]
            ),
        ),
        lambda: got.setdefault("ours", ours(server).daily_charges(date(2026, 11, 20), date(2026, 11, 21))),
    )
    assert theirs["body"] is None and mine["query"] == theirs["query"]
    assert json.loads(theirs["query"]["select_filters"][0]) == {
        "day": {"gte": start, "lte": end},
        "type": {"in": ["serverless"]},
    }
    assert [r["amount"] for r in got["theirs"]["results"]] == [4.25]
    assert got["ours"] == {date(2026, 11, 20): 4.25}

    theirs, mine = compare(
        server,
        lambda: got.setdefault("user", official(server).show_user()),
        lambda: got.setdefault("credit", ours(server).account_credit()),
    )
    assert theirs["path"] == "/api/v0/users/current" and theirs["method"] == "GET"
    assert got["user"]["credit"] == 87.5 == got["credit"].credit and "api_key" not in got["user"]


@pytest.mark.faults
def test_unknown_billing_shapes_are_errors_that_say_what_came(server):
    server.charges.append({"day": "2026-11-20", "cost": 1.0, "type": "serverless", "start": None})
    with pytest.raises(
        VastAIError,
        match=r"without a string type and a numeric amount \(type='serverless', amount=None; "
        r"keys: cost, day, start, type\)",
    ):
        ours(server).daily_charges(date(2026, 11, 1), date(2026, 12, 1))
    server.route("GET", "/api/v0/charges/", lambda call: __import__("vast_pipelines_tests.fakes").fakes.Reply(200, []))
    with pytest.raises(VastAIError, match=r'answered a list of 0, not \{"results"'):
        ours(server).daily_charges(date(2026, 11, 1), date(2026, 12, 1))
    server.user = {"id": 1, "credit": "lots", "api_key": KEY}
    with pytest.raises(VastAIError, match="an object with credit, id, not a user with a numeric credit") as err:
        ours(server).account_credit()
    assert KEY not in str(err.value)


def test_charges_are_asked_day_by_day_and_follow_next_token_pages(server):
    for day in range(1, 31):
        server.add_charge(date(2026, 11, day), 1.0)
    totals = ours(server).daily_charges(date(2026, 11, 1), date(2026, 12, 1))
    assert len(totals) == 30 and sum(totals.values()) == 30.0
    assert len(server.calls_to("/api/v0/charges/")) == 30
    server.calls.clear()
    # A day with more rows than a page (100, the official client's largest) is read to its last page.
    many = [server.add_charge(date(2026, 11, 1), 0.5) for _ in range(150)]
    totals = ours(server).daily_charges(date(2026, 11, 1), date(2026, 11, 2))
    assert totals == {date(2026, 11, 1): pytest.approx(1.0 + 0.5 * len(many))}
    pages = server.calls_to("/api/v0/charges/")
    assert len(pages) == 2 and "after_token" not in pages[0].query and pages[1].query["after_token"] == ["100"]
