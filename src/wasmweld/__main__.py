"""``python -m wasmweld ...`` is the ``wasmweld`` command."""

import sys

from wasmweld.cli.main import main

sys.exit(main())
