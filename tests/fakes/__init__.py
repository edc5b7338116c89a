"""Fake provider servers: real HTTP on 127.0.0.1, speaking each provider's own protocol,
so tests exercise our signing, encoding and error handling rather than a mock of them."""
