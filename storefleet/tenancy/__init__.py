"""Where each store's data lives and how requests reach it."""
