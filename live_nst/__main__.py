from live_nst.cli import main
import sys
sys.exit(main())
