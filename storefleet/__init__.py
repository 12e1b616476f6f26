"""storefleet: a multi-tenant commerce platform backend."""

__version__ = "0.1.0"
