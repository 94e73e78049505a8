"""Exit codes shared by every command of the tools."""

EXIT_FAILED_CHECKS = 1
EXIT_BAD_INPUT = 2
