"""Every way of looking up frame hashes gives the same hits: the PostgreSQL scan, the numpy scan and the FAISS
index on disk, at the borderline distances 30, 31 and 32 bits too; the index follows the table it mirrors."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from archive.config import Settings
from archive.db import session_scope
from archive.footage.index import NumpyScan, PostgresScan, open_index
from archive.footage.match import Hit
from archive.footage.ondisk import FLIPS, PART_BITS, PARTS, FaissIndex, mark_stale
from archive.footage.tables import FrameHashRow
from archive.models import Video
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace


def _flip(digest: bytes, bits: int, rng: random.Random) -> bytes:
    """The hash with `bits` distinct bits flipped."""
    value = int.from_bytes(digest, "big")
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return value.to_bytes(32, "big")


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    workspace = Workspace(settings.replace(footage_index_from=0))
    yield workspace
    workspace.close()


def _video(ws: Workspace, collection: str, url: str) -> int:
    with session_scope(ws.sessions) as session:
        source = add_sources(session, ensure_collection(session, collection), [SourceEntry(url)], kind="video")
        source_id = source.added[0].id
        video = session.scalar(select(Video).where(Video.source_id == source_id))
        if video is None:  # a URL no provider module recognises
            video = Video(source_id=source_id, provider="generic", video_id=url, canonical_url=url)
            session.add(video)
            session.flush()
        return video.id


def _add(ws: Workspace, video_id: int, hashes: list[bytes]) -> None:
    with session_scope(ws.sessions) as session:
        session.execute(insert(FrameHashRow), [{"video_id": video_id, "second": i / 2, "quality": 90, "hash": h}
                                               for i, h in enumerate(hashes)])


def _paths(ws: Workspace, session, collection_id: int | None) -> dict[str, object]:
    """Every lookup path this database has."""
    paths = {"numpy": NumpyScan(session, collection_id),
             "faiss": FaissIndex(session, Path(ws.settings.footage_index_file), collection_id)}
    if session.get_bind().dialect.name == "postgresql":
        paths["postgresql"] = PostgresScan(session, collection_id)
    return paths


def test_every_path_finds_the_same_frames_up_to_31_bits(ws: Workspace) -> None:
    rng = random.Random(23)
    queries = [(float(i), rng.randbytes(32)) for i in range(3)]
    near = [_flip(digest, bits, rng) for _, digest in queries for bits in (0, 1, 17, 30, 31, 32, 33, 64)]
    other = [rng.randbytes(32) for _ in range(3000)]  # random hashes lie ~128 bits apart
    first, second = _video(ws, "event", "https://v.example/1"), _video(ws, "other", "https://v.example/2")
    _add(ws, first, near[::2] + other[:1500])
    _add(ws, second, near[1::2] + other[1500:])
    with session_scope(ws.sessions) as session:
        collection = ensure_collection(session, "event").id
        for scope in (None, collection):
            paths = _paths(ws, session, scope)
            found = {name: sorted(path.near(queries, 31), key=repr) for name, path in paths.items()}
            assert set(found) >= {"numpy", "faiss"}
            expected = found["numpy"]
            for name, hits in found.items():
                assert hits == expected, name
            distances = sorted(hit.distance for hit in expected)
            videos = {hit.video_id for hit in expected}
            if scope is None:
                assert distances == sorted([0, 1, 17, 30, 31] * 3) and videos == {first, second}
            else:
                assert distances == sorted([0, 17, 31] * 3) and videos == {first}
            assert all(isinstance(hit, Hit) and hit.distance <= 31 for hit in expected)
            tight = {name: sorted(path.near(queries, 30), key=repr) for name, path in paths.items()}
            assert all(hits == [h for h in expected if h.distance <= 30] for hits in tight.values())


def _spread(digest: bytes, bits: int) -> bytes:
    """The hash with `bits` bits flipped, FLIPS + 1 in each FAISS part in turn: the neighbour hardest to find."""
    code = bytearray(digest)
    for part in range(PARTS):
        for offset in range(min(FLIPS + 1, bits - part * (FLIPS + 1))):
            position = part * PART_BITS + offset  # FAISS reads a part's bits from the lowest bit of each byte
            code[position // 8] ^= 1 << (position % 8)
    return bytes(code)


@pytest.mark.parametrize("bits", [31, 32])
def test_the_index_finds_the_hardest_neighbour_within_31_bits(ws: Workspace, bits: int) -> None:
    query = random.Random(bits).randbytes(32)
    _add(ws, _video(ws, "event", "https://v.example/1"), [_spread(query, bits)])
    with session_scope(ws.sessions) as session:
        for path in _paths(ws, session, None).values():
            assert [hit.distance for hit in path.near([(0.0, query)], 31)] == ([31] if bits == 31 else [])


def test_the_index_on_disk_follows_the_table(ws: Workspace) -> None:
    rng = random.Random(5)
    path = Path(ws.settings.footage_index_file)
    query = rng.randbytes(32)
    video = _video(ws, "event", "https://v.example/1")
    _add(ws, video, [_flip(query, 31, rng)] + [rng.randbytes(32) for _ in range(200)])

    def lookup() -> list[int]:
        with session_scope(ws.sessions) as session:
            index = open_index(session, None, ws.settings)
            assert isinstance(index, FaissIndex)
            return sorted(hit.distance for hit in index.near([(0.0, query)], 31))

    assert not path.exists()
    assert lookup() == [31]  # built on first use
    state = json.loads(path.with_name(path.name + ".json").read_text())
    assert state["rows"] == 201
    _add(ws, video, [_flip(query, 3, rng)])
    assert lookup() == [3, 31]  # a row added since is appended
    assert json.loads(path.with_name(path.name + ".json").read_text())["rows"] == 202
    with session_scope(ws.sessions) as session:  # the fingerprinting step replaces a video's rows
        session.execute(delete(FrameHashRow).where(FrameHashRow.video_id == video))
    mark_stale(path)
    _add(ws, video, [_flip(query, 20, rng)])
    assert lookup() == [20]
    assert json.loads(path.with_name(path.name + ".json").read_text())["rows"] == 1
    path.write_bytes(b"not an index")
    path.with_name(path.name + ".json").write_text(json.dumps({"highest": 1, "rows": 1}))
    assert lookup() == [20]  # an unreadable file is rebuilt
    other_layout = {"highest": 1, "rows": 99, "layout": [PARTS + 1, PART_BITS, FLIPS]}
    path.with_name(path.name + ".json").write_text(json.dumps(other_layout))
    assert lookup() == [20]  # an index of another layout (an older version's) is rebuilt
    assert json.loads(path.with_name(path.name + ".json").read_text())["rows"] == 1
    with session_scope(ws.sessions) as session:
        small = open_index(session, None, ws.settings.replace(footage_index_from=10_000))
        assert not isinstance(small, FaissIndex)  # few hashes: the exact scan, no file needed
