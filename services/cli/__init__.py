"""The `elizabus` command line: the stack runner and the client commands."""
