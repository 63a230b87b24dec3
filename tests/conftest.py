"""Put tests/ on sys.path so every test file can ``from helpers import check_op``."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
