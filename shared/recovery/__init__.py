"""Recovery an operator runs by hand (``python -m ops``), and the retention timer.

* :mod:`~shared.recovery.replay`: failed events re-queued to be applied again;
* :mod:`~shared.recovery.rebuild`: a candidate's ATS state recomputed from their stored events
  and ATS commands, after a rule change;
* :mod:`~shared.recovery.erase`: a candidate's personal data erased at their request;
* :mod:`~shared.recovery.retention`: stored payloads purged after ``PAYLOAD_RETENTION_DAYS``;
* :mod:`~shared.recovery.audit`: what operators did, without personal data.

The commands themselves (arguments, dry runs, printing) are in ``ops/``; what they decide and
write is here, beside the app's own code, so the two never disagree.
"""
