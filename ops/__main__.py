"""``python -m ops``: see :mod:`ops.cli`."""

from ops.cli import main

raise SystemExit(main())
