"""``python -m balise.cli``: the ``balise`` command."""

import sys

from . import main

sys.exit(main())
