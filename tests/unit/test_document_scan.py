"""The scan hook: a command answering by exit code (a real process, fed while bytes stream) and a
scan service answering JSON; a scanner that errs never calls a document clean or infected."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import httpx
import pytest

from shared.documents.scan import CommandScanner, NoScanner, UrlScanner, create_scanner
from shared.errors import DependencyUnavailable
from tests.support.eicar import EICAR

SCANNER = Path(__file__).resolve().parents[1] / "support" / "eicar_scanner.py"


def command(*flags: str) -> str:
    return shlex.join([sys.executable, str(SCANNER), *flags])


async def scan(scanner, chunks):
    session = await scanner.start()
    for chunk in chunks:
        await session.feed(chunk)
    return await session.finish()


async def test_a_clean_document_passes_the_scan_command():
    result = await scan(CommandScanner(command()), [b"a" * 100_000, b"b" * 100_000])
    assert result.clean


async def test_the_eicar_string_split_across_chunks_is_flagged():
    half = len(EICAR) // 2
    result = await scan(CommandScanner(command()), [b"x" * 70_000 + EICAR[:half], EICAR[half:] + b"y" * 10])
    assert not result.clean
    assert result.threat == "scan command exit code 1"


async def test_a_scanner_that_stops_reading_early_is_asked_for_its_exit_code():
    result = await scan(CommandScanner(command("--early")), [b"z" * 65536] * 200)
    assert result.clean


async def test_a_scanner_error_or_a_missing_scanner_is_transient():
    with pytest.raises(DependencyUnavailable, match="exit code 2"):
        await scan(CommandScanner(command("--fail")), [b"a" * 10])
    with pytest.raises(DependencyUnavailable, match="could not start"):
        await scan(CommandScanner("/nonexistent/scanner --stdin"), [b"a"])


def service(answer):
    received: list[bytes] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        received.append(await request.aread())
        return answer(received[-1])

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), received


async def test_the_scan_service_gets_every_byte_and_its_verdict_is_taken():
    client, received = service(
        lambda body: httpx.Response(
            200, json={"clean": False, "threat": "Eicar-Test-Signature"} if EICAR in body else {"clean": True}
        )
    )
    async with client:
        scanner = UrlScanner("https://scanner.example/scan", client)
        assert (await scan(scanner, [b"abc", b"def"])).clean
        flagged = await scan(scanner, [b"abc", EICAR])
    assert received == [b"abcdef", b"abc" + EICAR]
    assert not flagged.clean
    assert flagged.threat == "Eicar-Test-Signature"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(503),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"verdict": "ok"}),
        httpx.Response(200, json={"clean": "yes"}),
    ],
)
async def test_a_scan_service_that_does_not_answer_a_verdict_is_transient(response):
    client, _ = service(lambda body: response)
    async with client:
        with pytest.raises(DependencyUnavailable):
            await scan(UrlScanner("https://scanner.example/scan", client), [b"abc"])


async def test_no_scanner_unless_a_setting_names_one():
    async with httpx.AsyncClient() as client:
        assert isinstance(create_scanner(None, None, client), NoScanner)
        assert isinstance(create_scanner("clamdscan -", None, client), CommandScanner)
        assert isinstance(create_scanner(None, "https://scanner.example/scan", client), UrlScanner)
    assert (await scan(NoScanner(), [b"a"])).clean
