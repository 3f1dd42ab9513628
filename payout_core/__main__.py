"""`python -m payout_core` is the same as the `payout` command."""

import sys

from payout_core.cli import main

sys.exit(main())
