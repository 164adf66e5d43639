"""Typed Python clients for nikgate: blocking and asyncio, over mutual TLS.

    from nikgate.clients import Connection, NikgateClient
    conn = Connection.from_file("var/demo/connection.json", "bank-demo")
    with NikgateClient(conn) as client:
        reply = client.verify("3201014507900001", {"NAMA_LGKP": "Siti Aminah"})
        print(reply.message.fields)
"""

from .aio import AsyncNikgateClient
from .cardreader import (
    CardCheck,
    CardReaderSession,
    CardRefused,
    FingerprintNotMatched,
    FingerprintSensor,
    SyntheticSensor,
)
from .connection import Connection
from .requests import Reply, VerifyItem
from .return_data import (
    Rejected,
    ReturnDataSender,
    ReturnRecord,
    SendReport,
    obligations,
    read_records_csv,
)
from .sync import NikgateClient

__all__ = ["AsyncNikgateClient", "CardCheck", "CardReaderSession", "CardRefused",
           "Connection", "FingerprintNotMatched", "FingerprintSensor", "NikgateClient",
           "Rejected", "Reply", "ReturnDataSender", "ReturnRecord", "SendReport",
           "SyntheticSensor", "VerifyItem", "obligations", "read_records_csv"]
