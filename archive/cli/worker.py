"""`lastseen worker` and `lastseen workers`: run a Celery worker here, and see every worker and queue."""

from __future__ import annotations

import argparse
from typing import Any

from archive.cli.output import Output
from archive.errors import EXIT_OK, UsageError
from archive.workspace import Workspace

NO_BROKER = "LASTSEEN_BROKER_URL is not set: without a broker the scheduler does all the work itself"


def _region(value: str) -> str:
    """The --region name ('' for none, and for `default`, the unnamed region); a usage error for a bad one."""
    from archive.status import DEFAULT_REGION, region_names

    try:
        names = region_names([value])
    except ValueError as exc:
        raise UsageError(f"--region: {exc}") from None
    return "" if not names or names[0] == DEFAULT_REGION else names[0]


def cmd_worker(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """A worker in the foreground, taking tasks from the broker until stopped.

    Besides the four queues it takes its region's checks (check.<region>; check.default without --region), and
    stores its checks under its region: the queues of other regions are refused, so no check is misnamed.
    """
    from archive.status import DEFAULT_REGION
    from archive.tasks.app import QUEUES, check_queue
    from archive.tasks.worker import run_worker

    if not ws.settings.broker_url:
        raise UsageError(NO_BROKER)
    region = _region(args.region or ws.settings.check_region)
    known = [*QUEUES, check_queue(region or DEFAULT_REGION)]
    queues = [name for item in args.queues for name in item.split(",") if name] if args.queues else known
    unknown = sorted(set(queues) - set(known))
    if unknown:
        raise UsageError(f"unknown queue(s) {', '.join(unknown)} (known: {', '.join(known)}; a check.<region> "
                         "queue is for workers started with that --region)")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be 1 or more")
    changes = {"proxy": args.proxy} if args.proxy else {}
    if region:
        changes["check_region"] = region
    worker_ws = Workspace(ws.settings.replace(**changes)) if changes else ws
    try:
        worker_ws.check()
        return run_worker(worker_ws, queues=queues, concurrency=args.concurrency, region=region)
    finally:
        if worker_ws is not ws:
            worker_ws.close()


def cmd_workers(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Queues, their depth, the workers seen and what they did."""
    from archive.tasks.overview import overview

    if not ws.settings.broker_url:
        raise UsageError(NO_BROKER)
    seen = overview(ws)
    if out.as_json:
        out.json(seen)
        return EXIT_OK
    for queue, depth in seen["queues"].items():
        held = seen["leases"].get(queue, {})
        out.line(f"queue {queue}: {depth['messages'] if depth['messages'] is not None else '-'} waiting, "
                 f"{depth['consumers'] or 0} consumer(s); leases {held.get('queued', 0)} queued, "
                 f"{held.get('running', 0)} running, {held.get('expired', 0)} expired")
    if not seen["workers"]:
        out.line("no worker answered")
    for worker in seen["workers"]:
        tasks = ", ".join(f"{name} {n}" for name, n in worker["tasks"].items()) or "no tasks yet"
        out.line(f"worker {worker['name']} (region {worker['region'] or '-'}): {worker['active']} active; {tasks}")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `worker` and `workers` to the command line."""
    p = sub.add_parser("worker", parents=[common], help="run a Celery worker (needs LASTSEEN_BROKER_URL)")
    p.add_argument("--queues", "-Q", action="append", metavar="Q[,Q]",
                   help="queues to take tasks from: check, capture, browser (collections "
                        "captured in a browser: a worker with Chromium), wayback, alerts, feeds, transcribe, footage, "
                        "and this worker's region's check.<region> (default all)")
    p.add_argument("--concurrency", type=int, default=2, help="tasks at once (default 2; -c names a collection "
                   "everywhere, so it has no short form)")
    p.add_argument("--region", default="", help="where this worker's traffic comes from: it takes the checks of "
                   "collections that ask for this region, and its checks are stored under it")
    p.add_argument("--proxy", default="", help="egress proxy for this worker's checks (instead of LASTSEEN_PROXY)")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("workers", parents=[common], help="queues, their depth, and the workers seen")
    p.set_defaults(handler=cmd_workers)
