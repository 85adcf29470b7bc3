"""``python -m portal_simulator``: hands the command line to :mod:`portal_simulator.cli`."""

import sys

from portal_simulator.cli import main

sys.exit(main())
