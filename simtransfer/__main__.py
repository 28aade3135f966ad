import sys

from simtransfer.cli import main

sys.exit(main())
