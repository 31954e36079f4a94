"""``python -m pixengine`` is the ``pixengine`` command."""

import sys

from .cli import main

sys.exit(main())
