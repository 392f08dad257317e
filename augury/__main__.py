from augury.cli import main
import sys
sys.exit(main())
