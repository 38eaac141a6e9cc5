"""`python -m jwtguard`: the same as the `jwtguard` command."""

import sys

from .cli import main

sys.exit(main())
