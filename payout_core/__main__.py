"""`python -m payout_core`: the operator's commands only (no local-development ones)."""

import sys

from payout_cli.commands import main

sys.exit(main())
