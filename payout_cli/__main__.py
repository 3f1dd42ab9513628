"""`python -m payout_cli`: the operator's commands only (no local-development ones)."""

import sys

from payout_cli.commands import main

sys.exit(main())
