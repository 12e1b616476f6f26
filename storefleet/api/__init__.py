"""HTTP layer: app factory, middleware, error handling and dependencies."""
