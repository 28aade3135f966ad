"""``python -m simtransfer.experiments.bench``."""

import sys

from . import main

sys.exit(main())
