"""Checks from several regions: the combining rule, and two workers behind two egress proxies that see one source
differently, on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import scheduler
from archive.api.dashboard import source_view
from archive.api.html import source_page
from archive.api.workers import WorkerView, metrics_lines
from archive.config import Settings
from archive.db import session_scope
from archive.models import Alert, Check, Source, StatusTransition
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.status import (
    Outcome,
    RegionCheck,
    SourceState,
    WatchPolicy,
    classify_http,
    combine_regions,
    decide_regions,
    region_names,
)
from archive.vocab import SourceStatus, TransitionKind
from archive.watch.alerts import create_alerts, describe, headline
from archive.workspace import Workspace
from tests.servers.proxy import RegionProxy
from tests.servers.site import Page, Site
from tests.test_tasks import _reachable, _wait, env_for, stop_workers

BROKER = os.environ.get("LASTSEEN_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//")

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POLICY = WatchPolicy(confirm_checks=2, confirm_delay=timedelta(hours=1))


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _decide(state: SourceState, own: RegionCheck, history: list[RegionCheck], regions: tuple[str, ...] = ("a", "b"),
            policy: WatchPolicy = POLICY):  # type: ignore[no-untyped-def]
    verdict = combine_regions(regions, [*history, own], since=own.at - timedelta(days=1),
                              confirm=policy.confirm_checks)
    return verdict, decide_regions(state, own, verdict, own.at, policy)


def test_alive_in_one_region_and_refused_in_another_is_geo_blocked() -> None:
    alive = SourceState(status=SourceStatus.ALIVE, last_seen_alive_at=_at(0))
    history = [RegionCheck("a", Outcome.OK, _at(0), 1), RegionCheck("b", Outcome.GEO_BLOCKED, _at(1), 2)]
    verdict, first = _decide(alive, RegionCheck("b", Outcome.GEO_BLOCKED, _at(2)), history[:1])
    assert first.new_state.status is SourceStatus.ALIVE and first.transition is None, "one refusal is not confirmed"
    assert first.next_check_in == POLICY.confirm_delay and [c.region for c in verdict.pending_in] == ["b"]

    verdict, second = _decide(alive, RegionCheck("b", Outcome.GEO_BLOCKED, _at(62)), history)
    assert verdict.geo_blocked and second.new_state.status is SourceStatus.GEO_BLOCKED
    assert second.transition is not None and second.transition.kind is TransitionKind.VANISHED
    assert second.transition.reason == "geo_blocked" and second.new_state.vanished_at == _at(62)
    assert [(e["region"], e["outcome"]) for e in verdict.evidence()] == [("a", "ok"), ("b", "geo_blocked")]

    # a region's timeout does not erase its last answer; staying geo_blocked records nothing new
    verdict, again = _decide(second.new_state, RegionCheck("a", Outcome.TIMEOUT, _at(70)),
                             [*history, RegionCheck("b", Outcome.GEO_BLOCKED, _at(62), 3)])
    assert again.new_state.status is SourceStatus.GEO_BLOCKED and again.transition is None

    # answering everywhere again is a return
    verdict, back = _decide(second.new_state, RegionCheck("b", Outcome.OK, _at(130)), history)
    assert back.new_state.status is SourceStatus.RETURNED and back.transition is not None
    assert back.transition.kind is TransitionKind.RETURNED


def test_which_region_answers_first_does_not_decide() -> None:
    new = SourceState()
    once = WatchPolicy(confirm_checks=1)
    _, waits = _decide(new, RegionCheck("b", Outcome.GEO_BLOCKED, _at(0)), [], policy=once)
    assert waits.new_state == new and waits.transition is None, "refused here, the other region not heard yet"
    verdict, decided = _decide(new, RegionCheck("a", Outcome.OK, _at(1)),
                               [RegionCheck("b", Outcome.GEO_BLOCKED, _at(0), 1)], policy=once)
    assert decided.new_state.status is SourceStatus.GEO_BLOCKED and decided.new_state.last_seen_alive_at == _at(1)


def test_without_an_alive_region_the_machine_decides_as_before() -> None:
    alive = SourceState(status=SourceStatus.ALIVE)
    once = WatchPolicy(confirm_checks=1)
    _, gone = _decide(alive, RegionCheck("b", Outcome.GEO_BLOCKED, _at(1)), [RegionCheck("a", Outcome.GONE, _at(0), 1)],
                      policy=once)
    assert gone.new_state.status is SourceStatus.VANISHED, "refused there and gone here: vanished everywhere"
    _, elsewhere = _decide(alive, RegionCheck("b", Outcome.GONE, _at(1)), [RegionCheck("a", Outcome.OK, _at(0), 1)],
                           policy=once)
    assert elsewhere.new_state.status is SourceStatus.ALIVE, "a 404 in one region while another gets the page"
    _, stale = _decide(alive, RegionCheck("b", Outcome.GEO_BLOCKED, _at(3000)),
                       [RegionCheck("a", Outcome.OK, _at(0), 1), RegionCheck("b", Outcome.GEO_BLOCKED, _at(2990), 2)],
                       policy=once)
    assert stale.new_state.status is SourceStatus.VANISHED, "an answer older than the window says nothing"


def test_region_names_and_geo_wording() -> None:
    assert region_names(" Default, kz,kz ,eu-west ") == ("default", "kz", "eu-west")
    for bad in ("k z", "check.kz", "a" * 33, "-kz"):
        with pytest.raises(ValueError):
            region_names(bad)
    page = "<html><head><title>Not available in your country</title></head><body>Sorry.</body></html>"
    refused = classify_http(url="http://x.test/a", status=200, final_url="http://x.test/a",
                            redirect_chain=["http://x.test/a"], body_text=page, error=None, probe=None)
    assert refused.outcome is Outcome.GEO_BLOCKED
    article = "<html><head><title>Why some shows are not available in your country, and how VPNs work</title></head>"
    assert classify_http(url="http://x.test/b", status=200, final_url="http://x.test/b",
                         redirect_chain=["http://x.test/b"], body_text=article, error=None,
                         probe=None).outcome is Outcome.OK


def test_checks_stored_under_their_region_combine(settings: Settings, site: Site) -> None:
    """In-process checks as two regions (what each worker does): the second region's refusal makes it geo_blocked."""
    from archive.watch.check import check_sources

    site.set("/story", Page("<html><head><title>Story</title></head><body><p>a story</p></body></html>"))
    base = settings.replace(allow_networks=("127.0.0.1/32",), confirm_checks=1)
    main = Workspace(base)
    with session_scope(main.sessions) as session:
        collection = ensure_collection(session, "abroad")
        collection.regions = ["default", "kz"]
        add_sources(session, collection, [SourceEntry(site.url("/story"))])
    for region in ("", "kz"):
        ws = Workspace(base.replace(check_region=region))
        with session_scope(ws.sessions) as session:
            source_id = session.scalar(select(Source.id))
        check_sources(ws, [source_id])
        site.set("/story", Page("<html><body>Unavailable For Legal Reasons</body></html>", status=451))
        ws.close()
    with session_scope(main.sessions) as session:
        assert sorted(session.execute(select(Check.region, Check.http_status)).all(),
                      key=lambda row: row[0] or "") == [(None, 200), ("kz", 451)]
        source = session.scalar(select(Source))
        assert source is not None and source.status == "geo_blocked"
        moved = session.scalar(select(StatusTransition).where(StatusTransition.to_status == "geo_blocked"))
        assert moved is not None and [(e["region"], e["http_status"]) for e in moved.evidence] == [
            ("default", 200), ("kz", 451)]
    main.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_regions_through_the_api(api) -> None:  # type: ignore[no-untyped-def]
    with session_scope(api.workspace.sessions) as session:
        add_sources(session, ensure_collection(session, "abroad"), [SourceEntry("https://news.example/a")])
        source_id = session.scalar(select(Source.id))
    assert api.request("PATCH", "/api/collections/abroad", json={"regions": ["k z"]}).status_code == 422
    made = api.request("PATCH", "/api/collections/abroad", json={"regions": ["Default", "kz", "kz"]})
    assert made.status_code == 200 and made.json()["regions"] == ["default", "kz"]
    regions = api.get(f"/api/sources/{source_id}").json()["regions"]
    assert [(r["region"], r["outcome"]) for r in regions] == [("default", None), ("kz", None)]
    cleared = api.request("PATCH", "/api/collections/abroad", json={"regions": []})
    assert cleared.json()["regions"] == [] and api.get(f"/api/sources/{source_id}").json()["regions"] == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_takes_only_its_own_regions_checks(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LASTSEEN_BROKER_URL", "amqp://guest:guest@127.0.0.1:9//")
    code, _, err = run("worker", "--region", "kz", "--queues", "check,check.ru")
    assert code == 2 and "check.ru" in err and "check.kz" in err
    code, _, err = run("worker", "--queues", "check.kz")
    assert code == 2 and "check.default" in err, "without --region a worker is the default region's"
    code, _, err = run("worker", "--region", "k z")
    assert code == 2 and "--region" in err


@pytest.fixture
def broker_url() -> str:
    if not _reachable(5672):
        from tests.conftest import _need

        _need("RabbitMQ not reachable at 127.0.0.1:5672")
    return BROKER


@pytest.fixture
def proxies() -> Iterator[tuple[RegionProxy, RegionProxy]]:
    """Region a's egress passes everything; region b's refuses /geo with 451 and /wording with a geo page."""
    passing = RegionProxy().start()
    refusing = RegionProxy({"/geo": Page("<html><body>Unavailable For Legal Reasons</body></html>", status=451),
                            "/wording": Page("<html><head><title>This content is not available in your country"
                                             "</title></head><body>Sorry.</body></html>")}).start()
    yield passing, refusing
    passing.stop()
    refusing.stop()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_regions_behind_two_proxies_find_a_source_geo_blocked(
        settings: Settings, broker_url: str, site: Site, proxies: tuple[RegionProxy, RegionProxy], tmp_path: Path,
        run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    paths = ["/geo", "/wording", "/one", "/two"]
    for path in paths:
        site.set(path, Page(f"<html><head><title>Story {path}</title></head><body><p>story {path}</p></body></html>"))
    # Region names unique to this run: their queues (check.<region>) are this test's alone on the shared broker.
    region_a, region_b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    settings = settings.replace(broker_url=broker_url, allow_networks=("127.0.0.0/8",), confirm_checks=1,
                                check_timeout=5, task_lease=20, host_rate=50.0)
    ws = Workspace(settings)
    with session_scope(ws.sessions) as session:
        collection = ensure_collection(session, "abroad")
        add_sources(session, collection, [SourceEntry(site.url(path)) for path in paths])
    code, out, _ = run("collection", "abroad", "--regions", f"{region_a},{region_b}", "--json")
    assert code == 0 and json.loads(out)["regions"] == [region_a, region_b]
    env = env_for(settings, LASTSEEN_BROKER_URL=broker_url, LASTSEEN_ALLOW_NETWORKS="127.0.0.0/8",
                  LASTSEEN_CONFIRM_CHECKS="1", LASTSEEN_CHECK_TIMEOUT="5", LASTSEEN_TASK_LEASE="20",
                  LASTSEEN_HOST_RATE="50")
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [subprocess.Popen([sys.executable, "-c", "from archive.cli import run; run()", "worker", "--region",
                                 region, "--proxy", proxy.url, "--queues", f"check.{region}", "--concurrency", "1"],
                                stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
               for region, proxy, log in zip((region_a, region_b), proxies, logs, strict=True)]
    monkeypatch.setattr(scheduler, "_ws", ws)

    def checked_from_both() -> bool:
        with session_scope(ws.sessions) as session:
            return len(set(session.execute(select(Check.source_id, Check.region)).all())) == 2 * len(paths)

    try:
        _wait(lambda: all("ready" in log.read_text(errors="replace") for log in logs), 60, "workers ready", logs)
        _wait(checked_from_both, 120, "every source checked from both regions", logs, scheduler.recheck_round)
        view = WorkerView(ws)
        view.refresh()  # what /metrics shows of the workers: one a region, each with the checks it did
        shown = "\n".join(metrics_lines(view.latest, str))
    finally:
        stop_workers(workers)

    for region in (region_a, region_b):
        assert f'lastseen_workers{{region="{region}"}} 1' in shown, shown
        assert re.search(rf'lastseen_worker_tasks_total{{worker="[^"]+",region="{region}",kind="check",'
                         rf'outcome="done"}} [1-9]', shown), shown

    passing, refusing = proxies
    assert all(passing.asked(path) >= 1 and refusing.asked(path) >= 1 for path in paths), "checks went out by proxy"
    with session_scope(ws.sessions) as session:
        sources = {s.normalized_url.rsplit("/", 1)[1]: s for s in session.scalars(select(Source))}
        assert {name: s.status for name, s in sources.items()} == {
            "geo": "geo_blocked", "wording": "geo_blocked", "one": "alive", "two": "alive"}
        moved = session.scalar(select(StatusTransition).where(StatusTransition.source_id == sources["geo"].id,
                                                              StatusTransition.to_status == "geo_blocked"))
        assert moved is not None and moved.kind == "vanished"
        assert {(e["region"], e["outcome"], e["http_status"]) for e in moved.evidence} == {
            (region_a, "ok", 200), (region_b, "geo_blocked", 451)}
        assert all(e["check_id"] for e in moved.evidence)
        assert create_alerts(session) == 2
        alert = session.scalar(select(Alert).where(Alert.source_id == sources["geo"].id))
        assert alert is not None and alert.payload["regions"] == {
            "vanished_in": [{"region": region_b, "outcome": "geo_blocked", "http_status": 451}],
            "alive_in": [region_a]}
        assert f"Vanished in {region_b} (HTTP 451): " in headline(alert.payload)
        assert f"  still alive in: {region_a}" in describe(alert.payload, None)
        html = source_page(source_view(session, sources["geo"]))
        assert "<table id='regions'>" in html and region_b in html and "geo_blocked" in html
    code, out, _ = run("status", site.url("/geo"), "--json")
    regions = {r["region"]: r for r in json.loads(out)["sources"][0]["regions"]}
    assert code == 0 and regions[region_a]["outcome"] == "ok" and regions[region_b]["http_status"] == 451
    code, out, _ = run("status", site.url("/wording"))
    assert f"region {region_b}" in out and "not available in your country" in out
    ws.close()
