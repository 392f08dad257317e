import sys
from pathlib import Path

# the test helper in this folder (docs_blocks.py) imports by bare name
sys.path.insert(0, str(Path(__file__).resolve().parent))
