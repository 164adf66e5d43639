"""Hak akses: the grants Dukcapil gives institutions, and their enforcement on every call.

grants.py  what a grant says (operations, fields, channels, term, status, quota, rate)
store.py   where grants and usage live: an LMDB environment shared by all workers
policy.py  the access-rights check every call goes through
checks.py  that check applied to one call: canonical fields, scraping throttle, grant,
           purpose; after the call, the scraping guard and the return-data ledger
"""
