"""A test malware scanner for ``DOCUMENT_SCAN_COMMAND``: reads the document on stdin and answers
like ClamAV's ``clamscan -``: exit 0 clean, 1 when the EICAR test string is in it.

``--fail`` exits 2 (a scanner error) without reading; ``--early`` exits 0 after the first 64 KiB
(a scanner that decides before reading everything)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.eicar import EICAR


def main(argv: list[str]) -> int:
    if "--fail" in argv:
        return 2
    window = b""
    stdin = sys.stdin.buffer
    read = 0
    while chunk := stdin.read(65536):
        read += len(chunk)
        window = window[-len(EICAR) :] + chunk
        if EICAR in window:
            return 1
        if "--early" in argv:
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
