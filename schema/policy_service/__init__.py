"""GraphQL of the policy side of after-sales service (issue 16), one module per part."""
