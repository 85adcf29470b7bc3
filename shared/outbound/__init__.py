"""The outbound half of the integration: ATS commands on ``ats-outbound`` to the portal's REST API.

* :mod:`~shared.outbound.commands`: what a command is, and what makes one that can never be
  valid (read, never trusted);
* :mod:`~shared.outbound.intake`: the one transaction that records a command;
* :mod:`~shared.outbound.attempts`: what an attempt's answer means and what the row becomes;
* :mod:`~shared.outbound.retry`: the retry schedule, as data;
* :mod:`~shared.outbound.timer_budget`: how much work one replay run may do;
* :mod:`~shared.outbound.store`: the SQL of ``sync_queue`` and of the rows a command touches;
* :mod:`~shared.outbound.dispatcher`: the queue part (intake and first attempt) and the timer
  part (replaying due rows) of ``sync_dispatcher``;
* :mod:`~shared.outbound.recovery`: what an operator does with failed rows (``ops sync``).

docs/outbound.md tells the whole flow, failure by failure.
"""
