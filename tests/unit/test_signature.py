"""Webhook signature verification, checked against the independent ``standardwebhooks`` signer."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from shared.contract.signature import (
    MalformedWebhookSecret,
    SignatureFailure,
    SignatureRejected,
    WebhookSecret,
    parse_webhook_secrets,
    verify_signature,
)

NOW = 1_795_000_000
TOLERANCE = 300
SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 24).decode()
SECRET_C = "whsec_" + base64.b64encode(bytes(range(64))).decode()
ALL_SECRETS = (SECRET_A, SECRET_B, SECRET_C)


def library_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """A ``v1,<base64>`` signature made by the reference implementation, not by our code."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def verify(
    secrets: str,
    *,
    msg_id: str | None = "evt_1",
    timestamp: str | None = str(NOW),
    signature: str | None,
    body: bytes = b"{}",
    now: float = NOW,
) -> None:
    verify_signature(
        secrets=parse_webhook_secrets(secrets),
        webhook_id=msg_id,
        webhook_timestamp=timestamp,
        signature_header=signature,
        body=body,
        now=now,
        tolerance_seconds=TOLERANCE,
    )


def rejection(**kwargs) -> SignatureFailure:
    with pytest.raises(SignatureRejected) as caught:
        verify(**kwargs)
    assert caught.value.status_code == 401
    return caught.value.reason


def test_signature_made_by_reference_library_verifies():
    signature = library_signature(SECRET_A, "evt_1", NOW, '{"a": 1}')
    verify(SECRET_A, signature=signature, body=b'{"a": 1}')


def test_any_secret_of_a_rotation_verifies_any_of_the_signatures():
    old = library_signature(SECRET_A, "evt_1", NOW, "{}")
    new = library_signature(SECRET_B, "evt_1", NOW, "{}")
    verify(f"{SECRET_B}  {SECRET_C}", signature=f"{old} {new}")
    verify(SECRET_A, signature=f"{old} {new}")
    verify(SECRET_B, signature=f"{old} {new}")


def test_wrong_secret_is_no_matching_signature():
    signature = library_signature(SECRET_A, "evt_1", NOW, "{}")
    assert rejection(secrets=SECRET_B, signature=signature) is SignatureFailure.NO_MATCHING_SIGNATURE


def test_other_signature_versions_are_ignored():
    good = library_signature(SECRET_A, "evt_1", NOW, "{}")
    bogus_v2 = "v2," + base64.b64encode(b"x" * 32).decode()
    verify(SECRET_A, signature=f"{bogus_v2} {good}")
    assert rejection(secrets=SECRET_A, signature=bogus_v2) is SignatureFailure.NO_MATCHING_SIGNATURE


def test_a_v1a_signature_with_the_right_bytes_is_not_accepted_as_v1():
    good = library_signature(SECRET_A, "evt_1", NOW, "{}")
    relabelled = "v1a," + good.split(",", 1)[1]
    assert rejection(secrets=SECRET_A, signature=relabelled) is SignatureFailure.NO_MATCHING_SIGNATURE


@pytest.mark.parametrize(
    "header", ["garbage", "v1,", "v1,not base64!", "v1," + base64.b64encode(b"short").decode(), ","]
)
def test_malformed_signature_header(header):
    assert rejection(secrets=SECRET_A, signature=header) is SignatureFailure.MALFORMED_SIGNATURE


def test_malformed_entry_beside_a_good_signature_still_verifies():
    good = library_signature(SECRET_A, "evt_1", NOW, "{}")
    verify(SECRET_A, signature=f"garbage {good}")


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "signature"),
    [(None, str(NOW), "v1,x"), ("evt_1", None, "v1,x"), ("evt_1", str(NOW), None), ("", str(NOW), "v1,x")],
)
def test_missing_headers(msg_id, timestamp, signature):
    failure = rejection(secrets=SECRET_A, msg_id=msg_id, timestamp=timestamp, signature=signature)
    assert failure is SignatureFailure.MISSING_HEADERS


@pytest.mark.parametrize("timestamp", ["abc", "1.5", "-5", " 1795000000", "1e9", "9" * 13, "١٢٣"])
def test_malformed_timestamp(timestamp):
    failure = rejection(secrets=SECRET_A, timestamp=timestamp, signature="v1,x")
    assert failure is SignatureFailure.MALFORMED_TIMESTAMP


@pytest.mark.parametrize("offset", [-TOLERANCE, 0, TOLERANCE])
def test_timestamp_at_the_edge_of_the_window_is_accepted(offset):
    signature = library_signature(SECRET_A, "evt_1", NOW + offset, "{}")
    verify(SECRET_A, timestamp=str(NOW + offset), signature=signature)


@pytest.mark.parametrize("offset", [-TOLERANCE - 1, TOLERANCE + 1, -86_400, 86_400])
def test_timestamp_outside_the_window_either_way_is_rejected(offset):
    signature = library_signature(SECRET_A, "evt_1", NOW + offset, "{}")
    failure = rejection(secrets=SECRET_A, timestamp=str(NOW + offset), signature=signature)
    assert failure is SignatureFailure.TIMESTAMP_OUT_OF_WINDOW


def test_window_is_checked_before_the_signature():
    failure = rejection(secrets=SECRET_A, timestamp=str(NOW - 1000), signature="garbage")
    assert failure is SignatureFailure.TIMESTAMP_OUT_OF_WINDOW


def test_rejection_message_never_contains_header_values():
    signature = library_signature(SECRET_B, "evt_secret_id", NOW, "{}")
    with pytest.raises(SignatureRejected) as caught:
        verify(SECRET_A, msg_id="evt_secret_id", signature=signature)
    assert "evt_secret_id" not in str(caught.value)
    assert signature.split(",")[1] not in str(caught.value)


def test_parse_accepts_unpadded_base64():
    key = b"k" * 31
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert WebhookSecret.parse(unpadded).key == key


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("c2VjcmV0", "does not start with 'whsec_'"),
        ("whsec_***not-base64***", "not valid base64"),
        ("whsec_", "empty key"),
    ],
)
def test_malformed_secret_is_named_but_not_echoed(text, fragment):
    with pytest.raises(MalformedWebhookSecret) as caught:
        parse_webhook_secrets(f"{SECRET_A} {text}")
    message = str(caught.value)
    assert fragment in message
    assert "#2" in message
    assert text.removeprefix("whsec_") not in message or text == "whsec_"


def test_empty_secret_list_is_a_configuration_error():
    with pytest.raises(MalformedWebhookSecret):
        parse_webhook_secrets("  \n ")


def test_secret_repr_hides_the_key():
    secret = WebhookSecret.parse(SECRET_A)
    assert "aaaa" not in repr(secret)
    assert SECRET_A.removeprefix("whsec_") not in repr(secret)


# --- properties -------------------------------------------------------------------------------

ids = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=" "),
    min_size=1,
    max_size=40,
)
bodies = st.text(max_size=300)
timestamps = st.integers(min_value=NOW - TOLERANCE, max_value=NOW + TOLERANCE)
secret_sets = st.lists(st.sampled_from(ALL_SECRETS), min_size=1, max_size=3, unique=True)


@settings(max_examples=150)
@given(msg_id=ids, body=bodies, timestamp=timestamps, configured=secret_sets, data=st.data())
def test_property_any_delivery_signed_with_a_configured_secret_verifies(
    msg_id, body, timestamp, configured, data
):
    signer = data.draw(st.sampled_from(configured))
    others = [s for s in ALL_SECRETS if s not in configured]
    header = " ".join(
        [library_signature(s, msg_id, timestamp, body) for s in others]
        + [library_signature(signer, msg_id, timestamp, body)]
    )
    verify(
        " ".join(configured), msg_id=msg_id, timestamp=str(timestamp), signature=header, body=body.encode()
    )


def _tamper(text: bytes, index: int, delta: int) -> bytes:
    position = index % len(text)
    return text[:position] + bytes([(text[position] + delta) % 256]) + text[position + 1 :]


@settings(max_examples=200)
@given(
    msg_id=ids,
    body=bodies.filter(bool),
    timestamp=timestamps,
    target=st.sampled_from(["body", "id", "timestamp", "signature"]),
    index=st.integers(min_value=0),
    delta=st.integers(min_value=1, max_value=255),
)
def test_property_any_single_byte_tamper_fails(msg_id, body, timestamp, target, index, delta):
    header = library_signature(SECRET_A, msg_id, timestamp, body)
    raw_body, ts_text = body.encode(), str(timestamp)
    if target == "body":
        raw_body = _tamper(raw_body, index, delta)
    elif target == "id":
        msg_id = _tamper(msg_id.encode(), index, delta).decode("latin-1")
    elif target == "timestamp":
        ts_text = _tamper(ts_text.encode(), index, delta).decode("latin-1")
    else:
        version, encoded = header.split(",", 1)
        digest = _tamper(base64.b64decode(encoded), index, delta)
        header = f"{version},{base64.b64encode(digest).decode()}"
    with pytest.raises(SignatureRejected):
        verify(SECRET_A, msg_id=msg_id, timestamp=ts_text, signature=header, body=raw_body)


@settings(max_examples=100)
@given(
    body=bodies,
    skew=st.one_of(
        st.integers(min_value=TOLERANCE + 1, max_value=10**9),
        st.integers(min_value=-(10**9), max_value=-TOLERANCE - 1),
    ),
)
def test_property_out_of_window_fails_even_when_correctly_signed(body, skew):
    timestamp = NOW + skew
    header = library_signature(SECRET_A, "evt_1", timestamp, body)
    with pytest.raises(SignatureRejected) as caught:
        verify(SECRET_A, timestamp=str(timestamp), signature=header, body=body.encode())
    assert caught.value.reason is SignatureFailure.TIMESTAMP_OUT_OF_WINDOW
