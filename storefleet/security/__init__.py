"""Security primitives: field encryption, key storage, password hashing and tokens."""
