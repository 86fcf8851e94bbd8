import sys

from iree_lab.cli.main import main

sys.exit(main())
