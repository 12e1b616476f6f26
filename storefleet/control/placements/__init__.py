"""Where each store's data lives: placement rows, provisioning, moves and fleet migrations."""
