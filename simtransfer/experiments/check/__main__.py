"""``python -m simtransfer.experiments.check``."""

import sys

from .main import main

sys.exit(main())
