import sys

from lwd_operator.cli import main

sys.exit(main())
