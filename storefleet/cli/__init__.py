"""The ``storefleet`` command."""
