"""Bulk profile import: per-line report, limits, duplicates within and across batches, 503."""

from __future__ import annotations

import json

from shared.runtime import Runtime
from tests.support import events as ev


def ndjson(*events) -> bytes:
    return b"\n".join(ev.body_of(e) for e in events) + b"\n"


async def post_import(runtime, secret, body, *, batch_id=None, extra_headers=None):
    batch_id = batch_id or ev.uid("bat_")
    headers = {
        **ev.sign(secret, batch_id, body),
        "content-type": "application/x-ndjson",
        **(extra_headers or {}),
    }
    answer = await runtime.importer.receive(headers, body)
    return answer, json.loads(answer.body)


async def test_a_batch_is_queued_and_reported_line_by_line(pipeline):
    profiles = [ev.profile_event(ev.candidate()) for _ in range(5)]
    invalid = ev.profile_event(ev.candidate(email="broken"))
    no_consent = ev.profile_event(ev.candidate(consents={"data_processing": False}))
    wrong_type = ev.screening_event("cand_1", 50)
    body = ndjson(
        profiles[0], profiles[1], invalid, profiles[2], profiles[1], no_consent, wrong_type, *profiles[3:]
    )
    answer, report = await post_import(pipeline.runtime, pipeline.secret, body, batch_id="bat_1")
    assert answer.status == 200
    assert (report["batch_id"], report["accepted"], report["duplicates"], report["invalid"]) == (
        "bat_1",
        5,
        1,
        3,
    )
    statuses = [(r["line"], r["status"]) for r in report["results"]]
    assert statuses == [
        (1, "accepted"),
        (2, "accepted"),
        (3, "invalid"),
        (4, "accepted"),
        (5, "duplicate"),
        (6, "invalid"),
        (7, "invalid"),
        (8, "accepted"),
        (9, "accepted"),
    ]
    assert report["results"][2]["errors"] == [
        {"field": "candidate.email", "message": report["results"][2]["errors"][0]["message"]}
    ]
    assert report["results"][6]["errors"][0]["field"] == "type"
    await pipeline.drain()
    assert len(pipeline.rows("SELECT id FROM candidates")) == 5
    stored = {
        r["event_id"]: r
        for r in pipeline.rows("SELECT event_id, status_code, reason, payload FROM rejected_deliveries")
    }
    assert stored[invalid["id"]]["payload"] == invalid
    assert stored[no_consent["id"]]["payload"] is None


async def test_lines_already_processed_are_duplicates_in_a_later_batch(pipeline):
    first = [ev.profile_event(ev.candidate()) for _ in range(3)]
    await post_import(pipeline.runtime, pipeline.secret, ndjson(*first))
    await pipeline.drain()
    new = ev.profile_event(ev.candidate())
    _, report = await post_import(pipeline.runtime, pipeline.secret, ndjson(*first, new))
    assert (report["accepted"], report["duplicates"]) == (1, 3)
    await pipeline.drain()
    assert len(pipeline.rows("SELECT id FROM candidates")) == 4


async def test_a_bad_signature_takes_nothing(pipeline):
    body = ndjson(ev.profile_event(ev.candidate()))
    headers = {**ev.sign("whsec_" + "A" * 40, "bat_x", body), "content-type": "application/x-ndjson"}
    answer = await pipeline.runtime.importer.receive(headers, body)
    assert answer.status == 401
    assert await pipeline.queued() == []


async def test_limits_are_413(app_environ, webhook_secret):
    runtime = await Runtime.from_environ(
        {**app_environ, "IMPORT_MAX_LINES": "3", "IMPORT_MAX_BYTES": "20000"}
    )
    try:
        four = ndjson(*(ev.profile_event(ev.candidate()) for _ in range(4)))
        answer, _ = await post_import(runtime, webhook_secret, four)
        assert answer.status == 413
        big = ndjson(ev.profile_event(ev.candidate(headline="x" * 20000)))
        answer, _ = await post_import(runtime, webhook_secret, big)
        assert answer.status == 413
        declared, _ = await post_import(
            runtime,
            webhook_secret,
            ndjson(ev.profile_event(ev.candidate())),
            extra_headers={"content-length": "20001"},
        )
        assert declared.status == 413
    finally:
        await runtime.close()


async def test_a_line_over_the_webhook_limit_is_invalid_and_the_rest_taken(app_environ, webhook_secret):
    runtime = await Runtime.from_environ({**app_environ, "WEBHOOK_MAX_BODY_BYTES": "3000"})
    try:
        ok = ev.profile_event(ev.candidate())
        long = ev.profile_event(ev.candidate(headline="y" * 4000))
        answer, report = await post_import(runtime, webhook_secret, ndjson(ok, long))
        assert answer.status == 200
        assert [r["status"] for r in report["results"]] == ["accepted", "invalid"]
    finally:
        await runtime.close()


async def test_queue_down_is_503_and_the_batch_can_be_sent_again(app_environ, webhook_secret):
    runtime = await Runtime.from_environ(
        {**app_environ, "ServiceBusConnection": "postgresql://postgres@127.0.0.1:9/x"}
    )
    try:
        answer, report = await post_import(runtime, webhook_secret, ndjson(ev.profile_event(ev.candidate())))
        assert answer.status == 503
        assert report["status"] == 503
    finally:
        await runtime.close()
