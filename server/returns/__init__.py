"""Data balikan: return data an institution owes for the NIKs it accessed.

store.py keeps records, the access ledger and receipts of delivery in one LMDB
environment; ledger.py feeds it the NIKs each call accessed; committer.py stores submitted
batches with group commits and acknowledges them once durable; obligations.py computes
what is owed and suspends grants that fall too far behind.
"""
