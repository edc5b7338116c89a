"""Value-added services and partners in GraphQL (types, operations)."""
