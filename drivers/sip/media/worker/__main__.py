"""``python -m drivers.sip.media.worker``: run one media worker (:mod:`.main`)."""

import sys

from drivers.sip.media.worker.main import main

sys.exit(main())
