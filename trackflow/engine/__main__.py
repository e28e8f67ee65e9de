"""`python -m trackflow.engine`: the attribution CLI (see trackflow.engine.cli)."""

import sys

from trackflow.engine.cli import main

sys.exit(main())
