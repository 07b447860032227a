import sys

from switch.cli import main

sys.exit(main())
