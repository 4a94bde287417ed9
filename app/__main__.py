import sys
from shapelang.cli import main
sys.exit(main())
