"""The service assistant (智能客服, issue 15): answers a customer's Chinese question from
the knowledge base or from their own records, or hands off to a human agent.
``contract`` is what it returns."""
