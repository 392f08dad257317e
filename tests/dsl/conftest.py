import sys
from pathlib import Path

# the test helpers in this folder (models.py, golden_cases.py) import by bare name
sys.path.insert(0, str(Path(__file__).resolve().parent))
