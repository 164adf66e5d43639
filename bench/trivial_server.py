"""The ceiling Python gRPC sets: a trivial server of the same shape as nikgate's.

    python -m bench.trivial_server --pki var/bench-svc/pki [--workers N] [--address 127.0.0.1:0]
        [--port-file FILE] [--batch-items 1000]

Same transport as `nikgate serve`: grpc.aio on uvloop, mutual TLS with the server
certificate and CA of the same PKI directory (client certificates required), the same
channel options, N worker processes sharing one port with SO_REUSEPORT (the kernel spreads
connections across them). One generic handler on Verification's Verify method (its path
from nikgate/methods.py) takes the raw request bytes and returns a fixed, small serialized
VerifyResponse: no parsing, no identity check, no engine, no receipt, no metrics. VerifyBatch
likewise returns a fixed VerifyBatchResponse sized for --batch-items items (the transport
ceiling for batches of that size). The transaction id of every response is
"0-<worker pid in hex>-0", the same shape as nikgate's, so a client can tell which worker
serves a connection.

Like the nikgate supervisor, the parent process checks the port is free, forks the workers
before importing gRPC, writes "<port>\\n0\\n" to --port-file once the port accepts
connections, and on SIGTERM/SIGINT stops the workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path

MiB = 1 << 20


def fixed_response(pid: int) -> bytes:
    from nikgate.v1 import verification_pb2 as pb

    return pb.VerifyResponse(
        transaction_id=f"0-{pid:x}-0", status=1,
        fields=[pb.FieldResult(field="NAMA_LGKP", outcome=2, score=100, threshold=90),
                pb.FieldResult(field="TGL_LHR", outcome=2, score=100, threshold=100)],
        life_status=1, card_status=1).SerializeToString()


def fixed_batch_response(pid: int, n: int) -> bytes:
    """What nikgate answers for n items with two claimed fields (without the receipt)."""
    from nikgate.v1 import verification_pb2 as pb

    return pb.VerifyBatchResponse(
        transaction_id=f"0-{pid:x}-0", fields=["NAMA_LGKP", "TGL_LHR"], thresholds=[90, 100],
        status=bytes([1]) * n, outcomes=bytes([2]) * (2 * n), scores=bytes([100]) * (2 * n),
        life_status=bytes([1]) * n, card_status=bytes([1]) * n,
        item_ids=range(n)).SerializeToString()


def _worker(pki: Path, host: str, port: int, batch_items: int) -> None:
    import asyncio

    import grpc
    import uvloop

    from nikgate.methods import rpc

    verify_rpc, batch_rpc = rpc("Verification", "Verify"), rpc("Verification", "VerifyBatch")
    response = fixed_response(os.getpid())
    batch_response = fixed_batch_response(os.getpid(), batch_items)

    async def verify(request: bytes, context) -> bytes:
        return response

    async def verify_batch(request: bytes, context) -> bytes:
        return batch_response

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        creds = grpc.ssl_server_credentials(
            [((pki / "server/server.key").read_bytes(), (pki / "server/server.crt").read_bytes())],
            root_certificates=(pki / "ca/ca.crt").read_bytes(), require_client_auth=True)
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", 16 * MiB),
            ("grpc.max_send_message_length", 16 * MiB),
            ("grpc.max_concurrent_streams", 64),
            ("grpc.so_reuseport", 1),
        ])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(verify_rpc.service, {
            verify_rpc.name: grpc.unary_unary_rpc_method_handler(verify),
            batch_rpc.name: grpc.unary_unary_rpc_method_handler(verify_batch)}),))
        if server.add_secure_port(f"{host}:{port}", creds) == 0:
            raise OSError(f"cannot bind {host}:{port}")
        await server.start()
        await stop.wait()
        await server.stop(1.0)

    uvloop.run(run())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pki", required=True, help="PKI directory (ca/ca.crt, server/server.*)")
    p.add_argument("--address", default="127.0.0.1:0", help="host:port; port 0 picks one")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--port-file", default="")
    p.add_argument("--batch-items", type=int, default=1000,
                   help="items in the fixed VerifyBatch response (default 1000)")
    args = p.parse_args(argv)
    host, _, port_s = args.address.rpartition(":")
    host = host or "127.0.0.1"
    with socket.socket() as s:  # no SO_REUSEPORT: fails if anything listens there
        s.bind((host, int(port_s)))
        port = s.getsockname()[1]
    pki = Path(args.pki)
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _worker(pki, host, port, args.batch_items)
            except BaseException as e:  # noqa: BLE001 - report and exit non-zero
                print(f"trivial worker failed: {e!r}", file=sys.stderr)
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def stop(signum, frame) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)  # let every worker bind, not only the first
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(f"{port}\n0\n")
        os.replace(tmp, args.port_file)
    code = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                status = 0
                break
        code = code or (os.waitstatus_to_exitcode(status) if status else 0)
    return 1 if code > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
