"""The EICAR anti-virus test string, assembled at run time so that no file of the repository holds
it whole (a developer's own anti-virus would otherwise quarantine the checkout)."""

from __future__ import annotations

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()
