import sys

from live_nst.cli import main

sys.exit(main())
