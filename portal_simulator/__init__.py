"""The external candidate portal, simulated: the other side of ``portal-contract.md``.

Local runs, demos and tests need a portal and no real one is reachable, so this package plays
it: it serves the portal's REST API (bearer key, ``Idempotency-Key``, problem+json), signs and
delivers Standard Webhooks to the ATS with retries, answers interview requests and offers with
follow-up events, serves document bytes, and injects faults on request. It is written from the
contract alone and imports nothing from the function app, so each side checks the other.

Entry points: ``python -m portal_simulator`` (see :mod:`portal_simulator.cli`) and, for tests,
:func:`portal_simulator.testing.running_simulator`.
"""

from portal_simulator.config import RetryPolicy, SimulatorConfig

__all__ = ["RetryPolicy", "SimulatorConfig"]
