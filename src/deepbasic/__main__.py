"""``python -m deepbasic`` runs the ``deepbasic`` command."""
import sys

from deepbasic.cli import main

sys.exit(main())
