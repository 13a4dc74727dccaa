"""The artifact store: names and media types checked, writes atomic, deletes and sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest

import backburner as bb
from backburner.artifacts import CHUNK_BYTES, Artifacts, Blob, LocalBlobStore, artifacts_dir


@pytest.fixture
def artifacts(tmp_path: Path) -> Artifacts:
    return Artifacts(LocalBlobStore(tmp_path / "store"), max_bytes=1000)


async def test_save_then_read_gives_the_bytes_and_media_type_back(artifacts: Artifacts) -> None:
    saved = await artifacts.save("job-1", "cover.png", b"\x89PNG-bytes", "image/PNG")
    assert saved.url == "/v1/jobs/job-1/artifacts/cover.png"
    assert (saved.size, saved.content_type) == (10, "image/png")
    assert await artifacts.read("job-1", "cover.png") == Blob(b"\x89PNG-bytes", "image/png")
    await artifacts.save("job-1", "cover.png", b"new", "image/webp")  # replaces
    assert await artifacts.read("job-1", "cover.png") == Blob(b"new", "image/webp")


async def test_an_open_artifact_is_read_in_chunks_and_ranges(tmp_path: Path) -> None:
    artifacts = Artifacts(LocalBlobStore(tmp_path / "store"), max_bytes=10 * CHUNK_BYTES)
    data = bytes(range(256)) * (CHUNK_BYTES // 100)  # two and a half chunks
    await artifacts.save("job-1", "clip.mp4", data, "video/mp4")

    reader = await artifacts.open("job-1", "clip.mp4")
    await artifacts.save("job-1", "clip.mp4", b"replaced", "video/webm")  # after opening
    chunks = [chunk async for chunk in reader.chunks(0, reader.size - 1)]

    assert (reader.size, reader.content_type) == (len(data), "video/mp4")
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, len(data) - 2 * CHUNK_BYTES]
    assert b"".join(chunks) == data  # what was there when it was opened
    part = await artifacts.open("job-1", "clip.mp4")
    assert [c async for c in part.chunks(2, 5)] == [b"plac"]
    assert [c async for c in part.chunks(0, -1)] == []  # an empty range reads nothing
    await part.close()  # closing again is harmless
    with pytest.raises(bb.JobNotFound):
        await artifacts.open("job-1", "missing.mp4")


@pytest.mark.parametrize(
    ("name", "content_type", "data", "field"),
    [
        ("../escape.png", "image/png", b"x", "name"),
        (".hidden", "image/png", b"x", "name"),
        ("a/b.png", "image/png", b"x", "name"),
        ("", "image/png", b"x", "name"),
        ("x" * 129, "image/png", b"x", "name"),
        ("ok.png", "png", b"x", "content_type"),
        ("ok.png", "image/png\r\nX-Evil: 1", b"x", "content_type"),
        ("ok.png", "image/png", "text, not bytes", "data"),
        ("ok.png", "image/png", b"x" * 1001, "data"),
    ],
)
async def test_bad_artifacts_are_refused_naming_the_field_and_nothing_is_stored(
    artifacts: Artifacts, name: str, content_type: str, data: bytes, field: str
) -> None:
    with pytest.raises(bb.InvalidInput, match=f"^{field}: "):
        await artifacts.save("job-1", name, data, content_type)
    assert await artifacts.store.prefixes() == []


async def test_reading_a_missing_or_malformed_artifact_is_not_found(artifacts: Artifacts) -> None:
    await artifacts.save("job-1", "a.wav", b"RIFF", "audio/wav")
    for job_id, name in [("job-1", "b.wav"), ("job-2", "a.wav"), ("..", "a.wav"), ("job-1", "..")]:
        with pytest.raises(bb.JobNotFound):
            await artifacts.read(job_id, name)


async def test_deleting_a_job_removes_its_artifacts_only(artifacts: Artifacts) -> None:
    await artifacts.save("job-1", "a.png", b"1", "image/png")
    await artifacts.save("job-1", "b.png", b"2", "image/png")
    await artifacts.save("job-2", "a.png", b"3", "image/png")
    assert await artifacts.delete_job("job-1") == 2
    assert await artifacts.delete_job("job-1") == 0
    assert await artifacts.delete_job("../store") == 0  # never a path outside the store
    assert await artifacts.store.prefixes() == ["job-2"]


async def test_a_sweep_deletes_what_jobs_that_are_gone_left_behind(artifacts: Artifacts) -> None:
    for job_id in ("kept", "pruned-1", "pruned-2"):
        await artifacts.save(job_id, "a.png", b"1", "image/png")
    asked: list[list[str]] = []

    async def existing(ids: list[str]) -> set[str]:
        asked.append(ids)
        return {"kept"} & set(ids)

    assert await artifacts.sweep(existing) == 2
    assert asked == [["kept", "pruned-1", "pruned-2"]]
    assert await artifacts.store.prefixes() == ["kept"]


def test_the_store_sits_beside_a_sqlite_database_unless_configured(tmp_path: Path) -> None:
    sqlite = bb.Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    assert artifacts_dir(sqlite) == tmp_path / "jobs.artifacts"
    postgres = bb.Settings(database_url="postgresql://postgres@127.0.0.1/test")
    assert artifacts_dir(postgres) == Path("backburner-artifacts")
    configured = bb.Settings.from_env({"BACKBURNER_ARTIFACTS_DIR": str(tmp_path / "blobs")})
    assert artifacts_dir(configured) == tmp_path / "blobs"
