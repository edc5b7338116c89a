"""The policy side of after-sales service (issue 16): buying simple products online
(quotes, applications, underwriting, issuance), changes to a policy (endorsements,
surrender, reinstatement), renewal, policy documents and customised service plans."""
