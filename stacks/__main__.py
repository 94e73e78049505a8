"""`python -m stacks`: the command users and workflows know, forwarded to the tools' command line.

`pulumi up` never imports this module; it is the one file here that is not part of the program.
"""

import sys

from tools.cli import main

sys.exit(main())
