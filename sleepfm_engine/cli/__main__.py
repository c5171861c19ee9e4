"""``python -m sleepfm_engine.cli`` (and ``torchrun -m sleepfm_engine.cli``) runs the CLI."""
import sys

from . import main

sys.exit(main())
