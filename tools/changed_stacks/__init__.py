"""`python -m stacks changed`: the stacks a change between two commits asks CI to preview and deploy."""
