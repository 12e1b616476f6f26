"""Where each store's data lives and how requests reach it: the mechanisms, no domain.

Sessions, engines, DDL, data copy, the tenant migration runner and the seed runner. What
a store's placement is, and which tables and seed rows there are, is handed in when the
application is assembled (``storefleet.runtime``); see ``tenancy.source``.
"""
