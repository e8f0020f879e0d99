"""builtin_clerk: the `authenticate` plugin that verifies Clerk session tokens."""
