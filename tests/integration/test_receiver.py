"""The receiver's answers: the contract's check order, rotation, traces of rejections, no PII in logs."""

from __future__ import annotations

import base64
import json
import logging
import secrets as pysecrets
import time

import pytest

from shared.inbound.receiver import WebhookReceiver
from shared.runtime import Runtime
from shared.secrets import SecretStore
from tests.support import events as ev


def problem(answer):
    assert answer.content_type == "application/problem+json"
    body = json.loads(answer.body)
    assert body["status"] == answer.status
    return body


def new_secret() -> str:
    return "whsec_" + base64.b64encode(pysecrets.token_bytes(24)).decode()


async def test_a_valid_event_is_accepted_once_queued(pipeline):
    event = ev.profile_event(ev.candidate())
    answer = await pipeline.post(event)
    assert answer.status == 202
    [queued] = await pipeline.queued()
    assert queued["message_id"] == event["id"]
    assert json.loads(bytes(queued["body"])) == event
    assert queued["application_properties"]["event_type"] == "candidate.created"
    assert "received_at" in queued["application_properties"]


async def test_an_event_already_processed_is_answered_200(pipeline):
    event = ev.profile_event(ev.candidate())
    assert (await pipeline.post(event)).status == 202
    await pipeline.drain()
    again = await pipeline.post(event)
    assert again.status == 200
    assert len(await pipeline.queued()) == 0


async def test_body_over_the_limit_is_413_on_content_length_and_on_bytes(pipeline):
    limit = pipeline.runtime.settings.webhook_max_body_bytes
    event = ev.profile_event(ev.candidate())
    headers, body = ev.signed(pipeline.secret, event)
    declared = await pipeline.runtime.receiver.receive({**headers, "content-length": str(limit + 1)}, body)
    assert declared.status == 413
    big = ev.profile_event(ev.candidate(headline="x" * (limit + 10)))
    headers, body = ev.signed(pipeline.secret, big)
    assert (await pipeline.runtime.receiver.receive(headers, body)).status == 413
    assert pipeline.rows("SELECT * FROM rejected_deliveries") == []


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "expired", "future", "missing_signature", "body_changed"],
)
async def test_signature_failures_are_401_and_not_stored(pipeline, tamper):
    event = ev.profile_event(ev.candidate())
    secret = new_secret() if tamper == "wrong_secret" else pipeline.secret
    ts = {"expired": int(time.time()) - 301, "future": int(time.time()) + 301}.get(tamper)
    headers, body = ev.signed(secret, event, timestamp=ts)
    if tamper == "missing_signature":
        del headers["webhook-signature"]
    if tamper == "body_changed":
        body = body.replace(b"Ada", b"Eve")
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 401
    assert problem(answer)["title"] == "Signature verification failed"
    assert await pipeline.queued() == []
    assert pipeline.rows("SELECT * FROM rejected_deliveries") == []


async def test_check_order_413_before_401_before_400_before_422(pipeline):
    receiver = pipeline.runtime.receiver
    limit = pipeline.runtime.settings.webhook_max_body_bytes
    # too large AND badly signed -> 413
    headers, body = ev.signed(new_secret(), ev.profile_event(ev.candidate(headline="x" * limit)))
    assert (await receiver.receive(headers, body)).status == 413
    # badly signed AND malformed -> 401
    headers = ev.sign(new_secret(), "evt_1", b"not json")
    assert (await receiver.receive(headers, b"not json")).status == 401
    # malformed (id mismatch) AND invalid data -> 400
    event = ev.profile_event(ev.candidate(email="not-an-email"))
    body = ev.body_of(event)
    headers = ev.sign(pipeline.secret, "evt_other", body)
    assert (await receiver.receive(headers, body)).status == 400
    # invalid data only -> 422
    headers, body = ev.signed(pipeline.secret, event)
    assert (await receiver.receive(headers, body)).status == 422


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: (b"{not json", "application/json"), None),
        (lambda: (ev.body_of(ev.profile_event(ev.candidate())), "text/plain"), None),
        (
            lambda: (json.dumps({"id": "evt_x1", "type": "candidate.created"}).encode(), "application/json"),
            "data",
        ),
    ],
)
async def test_malformed_deliveries_are_400_and_kept_for_an_operator(pipeline, make, field):
    body, content_type = make()
    event_id = "evt_x1"
    if body.startswith(b'{"id": "evt_'):
        event_id = json.loads(body)["id"]
    headers = {**ev.sign(pipeline.secret, event_id, body), "content-type": content_type}
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 400
    body_json = problem(answer)
    if field:
        assert field in [e["field"] for e in body_json["errors"]]
    [stored] = pipeline.rows("SELECT status_code, reason, event_id, payload FROM rejected_deliveries")
    assert stored["status_code"] == 400
    assert stored["reason"].startswith("malformed")
    # what arrived is kept: the JSON as sent, or the text when it is not JSON
    assert stored["payload"] == (json.loads(body) if body.startswith(b'{"') else body.decode())


async def test_status_disagreeing_with_type_is_400(pipeline):
    event = ev.assessment_event("cand_1", 70)
    event["type"] = "assessment.failed"
    headers, body = ev.signed(pipeline.secret, event)
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 400
    assert "assessment.status" in [e["field"] for e in problem(answer)["errors"]]


async def test_invalid_data_is_422_naming_each_field_and_stored_with_payload(pipeline):
    cand = ev.candidate(email="not-an-email", phone="12345")
    cand["location"]["country"] = "XX"
    event = ev.profile_event(cand)
    headers, body = ev.signed(pipeline.secret, event)
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 422
    fields = {e["field"] for e in problem(answer)["errors"]}
    assert {"candidate.email", "candidate.phone", "candidate.location.country"} <= fields
    assert "not-an-email" not in answer.body.decode()
    [stored] = pipeline.rows("SELECT * FROM rejected_deliveries")
    assert (stored["status_code"], stored["event_id"], stored["event_type"]) == (
        422,
        event["id"],
        "candidate.created",
    )
    assert stored["payload"] == event
    assert {e["field"] for e in stored["errors"]} == fields


async def test_missing_consent_is_422_and_the_payload_is_not_kept(pipeline):
    event = ev.profile_event(ev.candidate(consents={"data_processing": False}))
    headers, body = ev.signed(pipeline.secret, event)
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 422
    [stored] = pipeline.rows("SELECT reason, payload FROM rejected_deliveries")
    assert stored == {"reason": "consent_missing", "payload": None}


async def test_download_url_outside_the_portal_is_refused_at_the_door(pipeline):
    event = ev.document_event("cand_1", portal="https://evil.example")
    headers, body = ev.signed(pipeline.secret, event)
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 422
    assert [e["field"] for e in problem(answer)["errors"]] == ["document.download_url"]


async def test_queue_unreachable_is_503_and_nothing_is_claimed(app_environ):
    runtime = await Runtime.from_environ(
        {**app_environ, "ServiceBusConnection": "postgresql://postgres@127.0.0.1:9/x"}
    )
    try:
        headers, body = ev.signed(app_environ["PORTAL_WEBHOOK_SECRETS"], ev.profile_event(ev.candidate()))
        answer = await runtime.receiver.receive(headers, body)
        assert answer.status == 503
        assert answer.headers.get("Retry-After")
    finally:
        await runtime.close()


async def test_queue_refusing_the_size_is_413(app_environ):
    runtime = await Runtime.from_environ({**app_environ, "WEBHOOK_MAX_BODY_BYTES": str(400 * 1024)})
    try:
        event = ev.profile_event(ev.candidate(headline="x" * (300 * 1024)))
        headers, body = ev.signed(app_environ["PORTAL_WEBHOOK_SECRETS"], event)
        answer = await runtime.receiver.receive(headers, body)
        assert answer.status == 413
        assert "queue" in problem(answer)["detail"]
    finally:
        await runtime.close()


async def test_redis_down_skips_the_fast_path_and_still_queues(app_environ):
    runtime = await Runtime.from_environ({**app_environ, "REDIS_URL": "redis://127.0.0.1:9/0"})
    try:
        headers, body = ev.signed(app_environ["PORTAL_WEBHOOK_SECRETS"], ev.profile_event(ev.candidate()))
        assert (await runtime.receiver.receive(headers, body)).status == 202
    finally:
        await runtime.close()


class RotatingVault:
    def __init__(self, value: str) -> None:
        self.value = value

    async def fetch(self, name: str) -> str:
        return self.value

    async def close(self) -> None:
        return None


async def test_rotation_both_secrets_accepted_and_a_new_secret_picked_up_without_restart(pipeline):
    old, new = pipeline.secret, new_secret()
    vault = RotatingVault(old)
    runtime = pipeline.runtime
    clock = [1000.0]
    store = SecretStore(vault, clock=lambda: clock[0])
    receiver = WebhookReceiver(
        settings=runtime.settings,
        secrets=store,
        processed=runtime.processed,
        sender=runtime.sender,
        db=runtime.db,
    )
    headers, body = ev.signed(old, ev.profile_event(ev.candidate()))
    assert (await receiver.receive(headers, body)).status == 202
    # the portal starts signing with the new key; the vault already holds both
    vault.value = f"{old} {new}"
    headers, body = ev.signed(new, ev.profile_event(ev.candidate()))
    assert (await receiver.receive(headers, body)).status == 202  # refreshed once, then accepted
    # a delivery signed with both keys during the rotation
    event = ev.profile_event(ev.candidate())
    body, now = ev.body_of(event), int(time.time())
    signed_new = ev.sign(new, event["id"], body, timestamp=now)
    signed_old = ev.sign(old, event["id"], body, timestamp=now)
    both = {
        **signed_new,
        "webhook-signature": f"{signed_old['webhook-signature']} {signed_new['webhook-signature']}",
    }
    assert (await receiver.receive(both, body)).status == 202
    # a secret removed from the vault is refused once the 5-minute cache has expired
    vault.value = new
    clock[0] += 301
    headers, body = ev.signed(old, ev.profile_event(ev.candidate()))
    assert (await receiver.receive(headers, body)).status == 401


async def test_logs_carry_no_personal_data_or_secrets(pipeline, caplog):
    caplog.set_level(logging.DEBUG)
    cand = ev.candidate(email="grace.hopper@navy.example", phone="+14155550123")
    good = ev.profile_event(cand)
    bad = ev.profile_event({**cand, "email": "grace.hopper@@navy"})
    for event in (good, bad):
        await pipeline.post(event)
    headers, body = ev.signed(new_secret(), good)
    await pipeline.runtime.receiver.receive(headers, body)
    await pipeline.drain()
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for needle in (
        "grace.hopper",
        "+14155550123",
        "4155550123",
        pipeline.secret,
        pipeline.secret[6:],
        pipeline.runtime.settings.portal_api_key.get_secret_value(),
    ):
        assert needle not in text
    assert "delivery rejected" in caplog.text  # the rejections were logged, without values


async def test_unverified_header_values_cannot_forge_log_lines(pipeline, caplog):
    caplog.set_level(logging.INFO)
    event = ev.profile_event(ev.candidate())
    headers, body = ev.signed(new_secret(), event)
    headers["webhook-id"] = "evt_1\nINFO forged: all good"
    answer = await pipeline.runtime.receiver.receive(headers, body)
    assert answer.status == 401
    assert "forged" not in caplog.text
    assert "<not an identifier>" in caplog.text
