"""`python -m e2e.aws_provider [engine flags] [engine address]`: the plugin process."""

import sys

from e2e.aws_provider.server import serve

if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
