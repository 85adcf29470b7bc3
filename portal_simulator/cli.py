"""``python -m portal_simulator``: serve the simulated portal, or drive a running one.

Every option is a flag with an environment-variable fallback (shown in ``--help``). Commands
other than ``serve`` talk to a running simulator's admin API (``--simulator-url``/``SIM_URL``),
which generates, signs and delivers, so the events refer to candidates and documents that
simulator knows. Exit codes: 0 ok, 1 a failure (a delivery that did not get the expected
answer, an unreachable simulator), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from portal_simulator import config as defaults
from portal_simulator.admin_client import AdminClient, AdminError, Json
from portal_simulator.config import RetryPolicy, SimulatorConfig
from portal_simulator.faults import FaultKind
from portal_simulator.scenario import play

DEFAULT_SIMULATOR_URL = f"http://{defaults.DEFAULT_HOST}:{defaults.DEFAULT_PORT}"
FAULT_KINDS: tuple[str, ...] = typing.get_args(FaultKind)


def _option(
    parser: argparse.ArgumentParser, flag: str, env: str, default: Any, help_text: str, **kwargs: Any
) -> None:
    """A flag whose default comes from ``env`` when set; ``--help`` shows both."""
    shown = "unset" if default is None else ("(secret)" if "secret" in flag or "key" in flag else default)
    parser.add_argument(
        flag, default=os.environ.get(env, default), help=f"{help_text} [env {env}; default {shown}]", **kwargs
    )


def _simulator_url(parser: argparse.ArgumentParser) -> None:
    _option(parser, "--simulator-url", "SIM_URL", DEFAULT_SIMULATOR_URL, "base URL of the running simulator")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    _option(parser, "--host", "SIM_HOST", defaults.DEFAULT_HOST, "interface to listen on")
    _option(parser, "--port", "SIM_PORT", defaults.DEFAULT_PORT, "port to listen on", type=int)
    _option(
        parser,
        "--public-url",
        "SIM_PUBLIC_URL",
        None,
        "base URL the ATS reaches the portal at (download_url base); default http://HOST:PORT",
    )
    _option(
        parser, "--api-key", "PORTAL_API_KEY", defaults.DEFAULT_API_KEY, "bearer key the REST API requires"
    )
    _option(
        parser,
        "--webhook-secrets",
        "PORTAL_WEBHOOK_SECRETS",
        defaults.DEFAULT_WEBHOOK_SECRETS,
        "space-separated whsec_<base64> secrets; every delivery is signed with each",
    )
    _option(parser, "--ats-url", "SIM_ATS_URL", defaults.DEFAULT_ATS_URL, "where webhooks are delivered")
    _option(
        parser,
        "--ats-import-url",
        "SIM_ATS_IMPORT_URL",
        None,
        "where bulk imports go; default: the ATS URL with /webhooks replaced by /candidates/import",
    )
    _option(
        parser,
        "--followup-delay",
        "SIM_FOLLOWUP_DELAY_SECONDS",
        2.0,
        "seconds before answering an interview request or an offer",
        type=float,
    )
    _option(
        parser,
        "--followups",
        "SIM_FOLLOWUPS",
        "on",
        "answer interview requests and offers with webhooks (off: take them, never answer)",
        choices=("on", "off"),
    )
    _option(
        parser,
        "--interview-decline-rate",
        "SIM_INTERVIEW_DECLINE_RATE",
        0.2,
        "share (0..1) of interview requests answered interview.declined",
        type=float,
    )
    _option(
        parser,
        "--offer-decline-rate",
        "SIM_OFFER_DECLINE_RATE",
        0.2,
        "share (0..1) of offers answered offer.declined",
        type=float,
    )
    _option(
        parser,
        "--retry-initial",
        "SIM_RETRY_INITIAL_SECONDS",
        1.0,
        "first webhook retry delay; doubles per attempt",
        type=float,
    )
    _option(parser, "--retry-max-delay", "SIM_RETRY_MAX_SECONDS", 60.0, "cap of the retry delay", type=float)
    _option(
        parser,
        "--retry-max-attempts",
        "SIM_RETRY_MAX_ATTEMPTS",
        8,
        "attempts per delivery before giving up",
        type=int,
    )
    _option(
        parser,
        "--delivery-timeout",
        "SIM_DELIVERY_TIMEOUT_SECONDS",
        10.0,
        "seconds before a delivery attempt counts as unanswered",
        type=float,
    )
    _option(parser, "--seed", "SIM_SEED", None, "seed for reproducible data and faults", type=int)
    _option(
        parser,
        "--log-level",
        "SIM_LOG_LEVEL",
        "info",
        "uvicorn and simulator log level",
        choices=("critical", "error", "warning", "info", "debug"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m portal_simulator",
        description="The external candidate portal, simulated: REST API, signed webhooks, faults.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage. See docs/portal-simulator.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the portal's REST API and admin API")
    _serve_options(serve)

    send = commands.add_parser("send", help="generate events in the running simulator, sign and deliver them")
    send.add_argument("event_type", metavar="EVENT_TYPE", help="e.g. candidate.created, screening.completed")
    send.add_argument("--candidate", help="portal candidate id the events are about (must be known)")
    send.add_argument("--count", type=int, default=1, help="number of events (default 1)")
    send.add_argument(
        "--duplicate-rate", type=float, default=0.0, help="share of events sent twice (same id)"
    )
    send.add_argument("--shuffle", action="store_true", help="deliver in random order")
    send.add_argument("--invalid", action="store_true", help="each event breaks one contract rule")
    send.add_argument("--invalid-rule", help="only this rule (see GET /admin/catalogue)")
    send.add_argument("--json", action="store_true", help="print the admin API's full answer")
    _simulator_url(send)

    bulk = commands.add_parser("import", help="send a signed NDJSON bulk import to the ATS")
    bulk.add_argument("--count", type=int, default=10, help="lines (default 10)")
    bulk.add_argument("--invalid-lines", type=int, default=0, help="lines that break one rule each")
    bulk.add_argument("--json", action="store_true", help="print the admin API's full answer")
    _simulator_url(bulk)

    faults = commands.add_parser("faults", help="show, add, set or reset injected faults")
    fault_commands = faults.add_subparsers(dest="faults_command", required=True, metavar="ACTION")
    _simulator_url(fault_commands.add_parser("show", help="print the armed rules"))
    _simulator_url(fault_commands.add_parser("reset", help="remove every rule"))
    add = fault_commands.add_parser("add", help="arm one more rule")
    add.add_argument("kind", choices=FAULT_KINDS)
    add.add_argument("--rate", type=float, help="share 0..1 of matching calls")
    add.add_argument("--count", type=int, help="only the next N matching calls")
    add.add_argument("--path-prefix", help="only calls (or ATS URLs) whose path starts with this")
    add.add_argument(
        "--retry-after", type=int, dest="retry_after_seconds", help="Retry-After seconds (429/503)"
    )
    add.add_argument("--latency-ms", type=int, help="added latency")
    add.add_argument("--hang-seconds", type=float, help="how long a timeout holds the call")
    add.add_argument(
        "--timestamp-skew",
        type=int,
        dest="timestamp_skew_seconds",
        help="expired_timestamp offset in seconds (default -600)",
    )
    add.add_argument("--phase", choices=("before", "after"), help="fault before or after the work is done")
    add.add_argument("--seed", type=int, help="reseed the fault random source")
    _simulator_url(add)
    replace = fault_commands.add_parser("set", help="replace all rules with a JSON file ({rules, seed?})")
    replace.add_argument("file", help="JSON file, or - for standard input")
    _simulator_url(replace)

    _simulator_url(commands.add_parser("stats", help="print the counters as JSON"))

    settings = commands.add_parser("settings", help="show or change follow-up behaviour")
    settings.add_argument("--followup-delay", type=float, dest="followup_delay_seconds")
    settings.add_argument("--followups", choices=("on", "off"), help="answer requests and offers, or not")
    settings.add_argument("--interview-decline-rate", type=float)
    settings.add_argument("--offer-decline-rate", type=float)
    _simulator_url(settings)

    _simulator_url(commands.add_parser("reset", help="forget all state (settings kept)"))

    scenario = commands.add_parser("scenario", help="play a hiring journey per candidate against the app")
    scenario.add_argument("--candidates", type=int, default=5, help="number of candidates (default 5)")
    scenario.add_argument(
        "--withdraw-share", type=float, default=0.2, help="share of candidates who withdraw"
    )
    scenario.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="seconds to wait afterwards for ATS interview requests and offers, then report them",
    )
    scenario.add_argument("--seed", type=int, help="seed for the journey's choices")
    _simulator_url(scenario)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from portal_simulator.server import serve_forever
    from portal_simulator.simulator import Simulator

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        api_key=args.api_key,
        webhook_secrets=args.webhook_secrets,
        ats_url=args.ats_url,
        ats_import_url=args.ats_import_url,
        retry=RetryPolicy(
            initial_seconds=args.retry_initial,
            max_seconds=args.retry_max_delay,
            max_attempts=args.retry_max_attempts,
            timeout_seconds=args.delivery_timeout,
        ),
        followup_delay_seconds=args.followup_delay,
        followups=args.followups == "on",
        interview_decline_rate=args.interview_decline_rate,
        offer_decline_rate=args.offer_decline_rate,
        seed=args.seed,
    )
    try:
        simulator = Simulator(config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    serve_forever(simulator, log_level=args.log_level)
    return 0


def delivery_result(delivery: Json) -> str:
    """The first attempt's status code, or its error (``connection_error``, ``timeout``)."""
    if delivery.get("status") is not None:
        return str(delivery["status"])
    attempts = delivery.get("attempts") or []
    return str(attempts[-1].get("error")) if attempts else str(delivery.get("outcome", "not sent"))


def _expected(item: Json) -> tuple[bool, str]:
    """Whether the delivery got the answer it should (a 2xx, or the status an invalid event
    expects), and a short note. A delivery still retrying in the background is not ok."""
    delivery = item.get("delivery") or {}
    invalid = item.get("invalid")
    if invalid is not None:
        note = f"expected {invalid['status']} ({invalid['rule']} at {invalid['field'] or 'envelope'})"
        return delivery.get("status") == invalid["status"], note
    outcome = str(delivery.get("outcome", "not delivered"))
    if outcome == "retrying":
        outcome = "retrying in the background"
    return outcome == "delivered", outcome


def _send(args: argparse.Namespace, admin: AdminClient, out: Callable[[str], None]) -> int:
    items = admin.generate_events(
        args.event_type,
        count=args.count,
        candidate=args.candidate,
        duplicate_rate=args.duplicate_rate,
        shuffle=args.shuffle,
        invalid=args.invalid,
        invalid_rule=args.invalid_rule,
    )
    if args.json:
        out(json.dumps(items, indent=2, ensure_ascii=False))
    failures = 0
    for item in items:
        event = item["event"]
        ok, note = _expected(item)
        failures += not ok
        duplicate = " (duplicate)" if item["duplicate"] else ""
        verdict = "ok" if ok else "FAIL"
        status = delivery_result(item.get("delivery") or {})
        out(f"{event['id']}  {event.get('type', '?'):<22} {status}  {verdict}  {note}{duplicate}")
    return 1 if failures else 0


def _import(args: argparse.Namespace, admin: AdminClient, out: Callable[[str], None]) -> int:
    answer = admin.bulk_import(count=args.count, invalid_lines=args.invalid_lines)
    if args.json:
        out(json.dumps(answer, indent=2, ensure_ascii=False))
    delivery = answer["delivery"] or {}
    out(
        f"batch {answer['batch_id']} ({len(answer['lines'])} lines) -> {answer['url']}: "
        f"{delivery_result(delivery)} {delivery.get('outcome')}"
    )
    report = delivery.get("response")
    if isinstance(report, dict) and "results" in report:
        counts = ", ".join(f"{name} {report.get(name)}" for name in ("accepted", "duplicates", "invalid"))
        out(counts)
        for result in report["results"]:
            errors = ", ".join(f"{e.get('field')}: {e.get('message')}" for e in result.get("errors", []))
            line = f"  line {result.get('line')}: {result.get('event_id')} {result.get('status')} {errors}"
            out(line.rstrip())
    elif report is not None:
        out(f"answer: {json.dumps(report, ensure_ascii=False)}")
    return 0 if delivery.get("outcome") == "delivered" else 1


def _faults(args: argparse.Namespace, admin: AdminClient, out: Callable[[str], None]) -> int:
    action = args.faults_command
    if action == "show":
        answer = admin.faults()
    elif action == "reset":
        answer = admin.reset_faults()
    elif action == "set":
        text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()  # noqa: SIM115
        settings = json.loads(text)
        answer = admin.set_faults(settings.get("rules", []), seed=settings.get("seed"))
    else:
        if args.seed is not None:
            current = admin.faults()["rules"]
            rules = [{k: v for k, v in r.items() if k not in ("injected", "exhausted")} for r in current]
            admin.set_faults(rules, seed=args.seed)
        answer = admin.add_fault(
            args.kind,
            rate=args.rate,
            count=args.count,
            path_prefix=args.path_prefix,
            retry_after_seconds=args.retry_after_seconds,
            latency_ms=args.latency_ms,
            hang_seconds=args.hang_seconds,
            timestamp_skew_seconds=args.timestamp_skew_seconds,
            phase=args.phase,
        )
    out(json.dumps(answer, indent=2))
    return 0


def _settings(args: argparse.Namespace, admin: AdminClient, out: Callable[[str], None]) -> int:
    values = {
        "followup_delay_seconds": args.followup_delay_seconds,
        "followups": None if args.followups is None else args.followups == "on",
        "interview_decline_rate": args.interview_decline_rate,
        "offer_decline_rate": args.offer_decline_rate,
    }
    answer = (
        admin.update_settings(**values) if any(v is not None for v in values.values()) else admin.settings()
    )
    out(json.dumps(answer, indent=2))
    return 0


def _scenario(args: argparse.Namespace, admin: AdminClient, out: Callable[[str], None]) -> int:
    out(f"Playing {args.candidates} candidate journey(s) through {args.simulator_url}")
    failures = play(
        admin,
        candidates=args.candidates,
        withdraw_share=args.withdraw_share,
        wait_seconds=args.wait,
        rng=random.Random(args.seed),
        out=out,
    )
    out(f"{failures} delivery failure(s)")
    return 1 if failures else 0


def _print_json(out: Callable[[str], None], value: Json) -> int:
    out(json.dumps(value, indent=2, ensure_ascii=False))
    return 0


_CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace, AdminClient, Callable[[str], None]], int]] = {
    "send": _send,
    "import": _import,
    "faults": _faults,
    "stats": lambda args, admin, out: _print_json(out, admin.stats()),
    "settings": _settings,
    "reset": lambda args, admin, out: _print_json(out, admin.reset()),
    "scenario": _scenario,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    try:
        with AdminClient(args.simulator_url) as admin:
            return _CLIENT_COMMANDS[args.command](args, admin, print)
    except AdminError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if error.status in (400, 404, 422) else 1
    except httpx.HTTPError as error:
        print(f"error: cannot reach the simulator at {args.simulator_url}: {error}", file=sys.stderr)
        return 1
