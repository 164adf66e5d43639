"""`python -m nikgate` runs the command line."""

import sys

from nikgate.cli import main

sys.exit(main())
