"""The tenant data plane: one folder per commerce domain."""
