"""The footage round: fingerprint newly kept videos, hash captured images and make the variants of newly vanished
videos (their frames in eight orientations) in a pool of worker processes (off the capture path, each bounded
in memory and time), then compare new captures with the archive, search for the
footage of videos that vanished, store the matches and make the alerts of reappearances.

The scheduler runs it in-process (the pool keeps decoding off its own process); with a broker a worker on the
`footage` queue runs the same function.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from typing import Any

from archive.config import Settings
from archive.db import session_scope
from archive.footage import reappear
from archive.footage.frames import Limits
from archive.footage.images import hash_image, images_pending
from archive.footage.prints import fingerprint, pending, store_failure, sync_index
from archive.footage.variants import make_variants, store_variant_failure, variants_pending
from archive.storage import StorageUnavailable
from archive.workspace import Workspace

logger = logging.getLogger(__name__)

BATCH = 500  # videos and images hashed per round
M_ARENA_MAX = -8  # glibc's mallopt parameter
_worker_ws: dict[str, Workspace] = {}
Outcome = tuple[str, int]  # a job's state (done, failed, skipped) and frames hashed
Job = Callable[[Settings, int], Outcome]


def limits(settings: Settings) -> Limits:
    """The decoding bounds the settings give."""
    return Limits(max_seconds=float(settings.footage_max_seconds), max_wall=float(settings.footage_max_wall))


def _start_worker(max_memory: int) -> None:
    """A pool process's address space is capped, so a decoding bomb is a MemoryError here, not the host's OOM;
    glibc keeps two malloc arenas, not eight per core, so the decoder's threads do not spend the cap unused."""
    import ctypes
    import resource

    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)
    except OSError:  # not glibc: its allocator reserves no arenas per thread
        pass
    if max_memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))


def _workspace(settings: Settings) -> Workspace:
    """One workspace per pool process and archive (a round run in this process may follow one on another)."""
    key = f"{settings.database_url} {settings.storage_url}"
    if key not in _worker_ws:
        _worker_ws[key] = Workspace(settings)
    return _worker_ws[key]


def fingerprint_in_worker(settings: Settings, video_id: int) -> Outcome:
    """Fingerprint one kept video in a pool process; its state and frames hashed."""
    made = fingerprint(_workspace(settings), video_id, settings.footage_frames_per_second, limits(settings))
    return made.state, made.frames


def hash_image_in_worker(settings: Settings, requisite_id: int) -> Outcome:
    """Hash one captured image in a pool process; its state."""
    made = hash_image(_workspace(settings), requisite_id)
    return (made.state if made is not None else "skipped"), 0


def variants_in_worker(settings: Settings, video_id: int) -> Outcome:
    """Make one vanished video's variants in a pool process; its state and frames hashed."""
    made = make_variants(_workspace(settings), video_id, settings.footage_frames_per_second, limits(settings))
    return made.state, 0


def _run_one(job: Job, settings: Settings, item: int) -> Outcome:
    """One job; when the storage cannot be reached now its item is skipped, nothing stored, for a later round."""
    try:
        return job(settings, item)
    except StorageUnavailable as exc:
        logger.warning("footage %s %s skipped, tried again next round: %s", job.__name__, item, exc)
        return "skipped", 0


def _run_all(settings: Settings, jobs: list[tuple[Job, int]]) -> list[Outcome]:
    """Run the jobs in a pool of footage_workers processes (in this process when it is 0); a job whose process
    died (killed, out of memory beyond Python's reach) is a video stored as failed."""
    if settings.footage_workers <= 0:
        return [_run_one(job, settings, item) for job, item in jobs]
    context = multiprocessing.get_context("spawn")  # no fork of a threaded scheduler
    states: list[Outcome] = []
    with ProcessPoolExecutor(max_workers=settings.footage_workers, mp_context=context, initializer=_start_worker,
                             initargs=(settings.footage_max_memory,)) as pool:
        futures: list[tuple[Future[Outcome], Job, int]] = [
            (pool.submit(_run_one, job, settings, item), job, item) for job, item in jobs]
        for future, job, item in futures:
            try:
                states.append(future.result())
            except BrokenProcessPool:
                states.append(_lost(settings, job, item))
    return states


def _lost(settings: Settings, job: Job, item: int) -> Outcome:
    """A job whose worker process died: a video's failure is stored; an image is tried by a later round."""
    if job is fingerprint_in_worker:
        store_failure(Workspace(settings), item, "the fingerprinting process died (memory or a decoder crash)")
    if job is variants_in_worker:
        store_variant_failure(Workspace(settings), item, "the variants' process died (memory or a decoder crash)")
    logger.warning("footage worker died on %s %s", job.__name__, item)
    return "failed", 0


def footage_work(ws: Workspace, collection_id: int | None = None) -> dict[str, Any]:
    """One footage round: hash what is new (of one collection, or all) and vanished videos' variants, compare,
    search for vanished videos' footage, make alerts."""
    settings = ws.settings
    with session_scope(ws.sessions) as session:
        videos = pending(session, collection_id, limit=BATCH)
        images = images_pending(session, collection_id, limit=BATCH)
        vanished = variants_pending(session, collection_id, limit=BATCH)
    jobs = ([(fingerprint_in_worker, v) for v in videos] + [(hash_image_in_worker, r) for r in images]
            + [(variants_in_worker, v) for v in vanished])
    states = _run_all(settings, jobs) if jobs else []
    if any(state == "done" for state, _ in states[:len(videos)]):
        sync_index(ws)
    found = reappear.Found()
    with session_scope(ws.sessions) as session:
        reappear.compare_new_videos(session, settings.footage_match_share, found)
        reappear.compare_new_images(session, found)
        reappear.search_vanished(session, settings.footage_match_share, found)
        reappear.alert_reappearances(session, found)
    done = [state for state, _ in states]
    result = {"fingerprinted": done[:len(videos)].count("done"), "frames": sum(frames for _, frames in states),
              "images": done[len(videos):len(videos) + len(images)].count("done"),
              "variants": done[len(videos) + len(images):].count("done"), "failed": done.count("failed"),
              **asdict(found)}
    if jobs or found.matches or found.alerts:
        logger.info("footage: %s", result)
    return result
