"""Online customer service (在线客服, issue 15): customers' conversations with the service
assistant and human agents. ``chat`` is the customer's side (start, send, hand off,
call back), ``desk`` the agents' (presence, queue, accept, answer, transfer, close,
propose an answer to the knowledge base), ``state`` every write to a conversation,
``brain`` the one seam to the assistant."""
