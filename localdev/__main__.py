"""`python -m localdev` is the same as the `payout` command."""

import sys

from localdev.cli import main

sys.exit(main())
