"""``python -m sleepfm_engine.cli`` (and ``torchrun -m sleepfm_engine.cli``) runs the CLI."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
