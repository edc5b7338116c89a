"""Attacks and faults as tests, one file per attacked surface, named by what it attacks
(``test_double_payout``, ``test_sms_pumping``, ``test_redis_restart``...).

Each test failed against the code before its fix. When you add a feature, add its
attacks here: the same request twice at once, someone else's ID, a holder acting for
the insured, a huge or malformed input, a flood from one client, a dropped connection.
Concurrency and connection tests run on PostgreSQL (``postgres_only``); ``faults.py``
holds what the fault tests share.
"""
