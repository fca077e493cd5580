"""Background work the API starts: `lastseen crawl|check -c C` run as child processes, one per kind and collection.

A crawl runs Twisted's reactor, which cannot restart inside one process, so the API never crawls itself.
Jobs are known to the process that started them (not stored): a restarted API forgets finished ones.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.config import Settings
from archive.models import utcnow
from archive.spawn import start_lastseen
from archive.timefmt import iso

JOB_KINDS = ("crawl", "check")
KEEP_FINISHED = 200
_TAIL = 4000


class JobConflict(Exception):
    """The same kind of job is already running for that collection."""


@dataclass
class Job:
    """One child process and what became of it."""

    id: str
    kind: str
    collection: str
    started_at: datetime
    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    finished_at: datetime | None = None
    exit_code: int | None = None
    result: Any = field(default=None)

    def poll(self) -> bool:
        """Update from the process; True while it runs."""
        if self.exit_code is None:
            code = self.process.poll()
            if code is not None:
                self.exit_code = code
                self.finished_at = utcnow()
                self.result = _json_or_none(self.out_path)
        return self.exit_code is None

    @property
    def state(self) -> str:
        """running, succeeded (exit 0), partial (exit 1) or failed."""
        if self.poll():
            return "running"
        return {0: "succeeded", 1: "partial"}.get(self.exit_code or 0, "failed")

    def as_dict(self) -> dict[str, Any]:
        """The job as the API shows it: state, exit code, the command's JSON summary and its last log lines."""
        state = self.state
        return {"id": self.id, "kind": self.kind, "collection": self.collection, "state": state,
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
                "exit_code": self.exit_code, "result": self.result,
                "log_tail": _tail(self.err_path) if state != "running" else None}


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _TAIL))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class JobRunner:
    """Starts and tracks child `lastseen` processes; thread-safe (API routes run in a thread pool)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.data_dir / "jobs"
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, collection: str, started_by: str = "", urls: Sequence[str] = ()) -> Job:
        """Start `lastseen KIND -c COLLECTION --json [URL...]`; JobConflict if one is running for it already.

        A crawl is told who started it (`--started-by`): its WARC files and the custody record name them.
        """
        if kind not in JOB_KINDS:
            raise ValueError(f"job kind must be one of {', '.join(JOB_KINDS)}")
        with self._lock:
            for job in self._jobs.values():
                if job.kind == kind and job.collection == collection and job.poll():
                    raise JobConflict(f"a {kind} of {collection!r} is running already (job {job.id})")
            self._forget_old()
            job_id = uuid.uuid4().hex
            self.folder.mkdir(parents=True, exist_ok=True)
            out_path, err_path = self.folder / f"{job_id}.json", self.folder / f"{job_id}.log"
            with out_path.open("wb") as out, err_path.open("wb") as err:
                args = [kind, "-c", collection, "--json"]
                if kind == "crawl" and started_by:
                    args += ["--started-by", started_by]
                args += list(urls)
                process = start_lastseen(self.settings, args, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
            job = Job(id=job_id, kind=kind, collection=collection, started_at=utcnow(), process=process,
                      out_path=out_path, err_path=err_path)
            self._jobs[job_id] = job
            return job

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every known job, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.started_at, reverse=True)

    def _forget_old(self) -> None:
        finished = [job for job in self._jobs.values() if not job.poll()]
        finished.sort(key=lambda job: job.finished_at or job.started_at)
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]
            for path in (job.out_path, job.err_path):
                path.unlink(missing_ok=True)

    def stop_all(self, timeout: float = 10.0) -> None:
        """Ask running jobs to stop (SIGTERM: a crawl closes its WARC file) and wait for them a while."""
        with self._lock:
            running = [job for job in self._jobs.values() if job.poll()]
        for job in running:
            job.process.terminate()
        for job in running:
            try:
                job.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
            job.poll()
