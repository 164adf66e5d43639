"""Workload items and request messages: which NIKs, which claims, which calls.

Items come from an index (the one the target serves, e.g. var/demo/index): a share
`hit_rate` of stored NIKs and the rest valid-looking NIKs that are not stored; the claims
are each person's stored name and birth date. With `hot_share` > 0 that share of items is
drawn from a small hot set of `hot_set` NIKs (caches, repeat customers).

The `*_json` workloads send the same requests through the JSON gateway (nikgate gateway):
the body is the request in proto3 JSON, POSTed to the method's annotated path, so the
same run can set the JSON face against gRPC (docs/json-api.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from nikgate.methods import rpc

WORKLOADS = ("verify", "verify_batch", "verify_stream", "lookup", "return_data",
             "verify_json", "verify_batch_json", "lookup_json")
STREAMING = ("verify_stream", "return_data")
JSON_SUFFIX = "_json"
FIELDS = ("NAMA_LGKP", "TGL_LHR")
METHODS = {
    "verify": rpc("Verification", "Verify").path,
    "verify_batch": rpc("Verification", "VerifyBatch").path,
    "verify_stream": rpc("Verification", "VerifyStream").path,
    "lookup": rpc("Lookup", "Lookup").path,
    "return_data": rpc("ReturnData", "Submit").path,
}


@dataclass
class Items:
    niks: list[str]
    names: list[str]
    dates: list[str]
    stored: list[bool]

    def __len__(self) -> int:
        return len(self.niks)

    def hits(self) -> list[str]:
        return [n for n, s in zip(self.niks, self.stored) if s]


def make_items(index_dir: str | Path, count: int, hit_rate: float = 0.9,
               hot_share: float = 0.0, hot_set: int = 100, seed: int = 2026) -> Items:
    from nikgate.engine import NikIndex

    if not 0 <= hit_rate <= 1 or not 0 <= hot_share <= 1:
        raise ValueError("hit rate and hot share are fractions between 0 and 1")
    rng = random.Random(seed)
    with NikIndex.open(index_dir) as idx:
        pool = idx.sample_niks(min(idx.record_count, max(10 * count, 10_000)),
                               start=rng.randrange(10**15, 9 * 10**15))
        if len(pool) < count:
            pool = idx.sample_niks(min(idx.record_count, max(10 * count, 10_000)))
        if not pool:
            raise ValueError(f"index {index_dir} holds no records")
        keys = [int(n) for n in pool]
        hot = [keys[rng.randrange(len(keys))] for _ in range(max(1, hot_set))]
        chosen: list[int] = []
        for _ in range(count):
            if rng.random() < hot_share:
                chosen.append(rng.choice(hot))
            elif rng.random() < hit_rate:
                chosen.append(keys[rng.randrange(len(keys))])
            else:
                while True:  # same region and birth date, an unused serial
                    base = keys[rng.randrange(len(keys))]
                    candidate = base - base % 10_000 + rng.randrange(1, 10_000)
                    if idx.raw(candidate) is None:
                        chosen.append(candidate)
                        break
        niks = [f"{n:016d}" for n in chosen]
        names: list[str | None] = []
        dates: list[str | None] = []
        for s in range(0, count, 1000):
            res = idx.lookup_batch(niks[s:s + 1000], list(FIELDS))
            names.extend(res.values[0])
            dates.extend(res.values[1])
    stored = [v is not None for v in names]
    some = next((i for i, s in enumerate(stored) if s), None)
    for i in range(count):  # claims for unknown NIKs: somebody's, as a real caller would send
        if not stored[i]:
            names[i] = names[some] if some is not None else "BUDI SANTOSO"
            dates[i] = dates[some] if some is not None else "1990-01-01"
    return Items(niks, names, dates, stored)  # type: ignore[arg-type]


def requests(workload: str, items: Items, batch: int, count: int, tag: str = "") -> list[bytes]:
    """`count` serialized request messages (cycled by the clients). For return_data, `tag`
    makes record ids unique to this run and process."""
    from nikgate.v1 import lookup_pb2, return_data_pb2, verification_pb2

    n = len(items)
    out = []
    workload = grpc_twin(workload)
    for k in range(count):
        if workload == "verify":
            i = k % n
            out.append(verification_pb2.VerifyRequest(
                nik=items.niks[i], claims={"NAMA_LGKP": items.names[i],
                                           "TGL_LHR": items.dates[i]}).SerializeToString())
        elif workload == "lookup":
            out.append(lookup_pb2.LookupRequest(nik=items.niks[k % n], fields=list(FIELDS))
                       .SerializeToString())
        else:
            idx = [(k * batch + j) % n for j in range(batch)]
            if workload == "return_data":
                hits = [i for i in idx if items.stored[i]] or idx
                idx = (hits * (batch // len(hits) + 1))[:batch]
                out.append(return_data_pb2.ReturnDataBatch(
                    batch_id=k + 1,
                    record_ids=[f"{tag}-{k}-{j}" for j in range(batch)],
                    niks=[items.niks[i] for i in idx], kinds=["bank_cif"] * batch,
                    values=[f"CIF{(k * batch + j) % 10**9:09d}" for j in range(batch)],
                ).SerializeToString())
            else:
                out.append(verification_pb2.VerifyBatchRequest(
                    niks=[items.niks[i] for i in idx], fields=list(FIELDS),
                    columns=[verification_pb2.ClaimColumn(values=[items.names[i] for i in idx]),
                             verification_pb2.ClaimColumn(values=[items.dates[i] for i in idx])],
                ).SerializeToString())
    return out


def items_per_call(workload: str, batch: int) -> int:
    return 1 if grpc_twin(workload) in ("verify", "lookup") else batch


def is_json(workload: str) -> bool:
    return workload.endswith(JSON_SUFFIX)


def grpc_twin(workload: str) -> str:
    """The gRPC workload a JSON one mirrors ("verify_json" -> "verify")."""
    return workload[: -len(JSON_SUFFIX)] if is_json(workload) else workload


def json_path(workload: str) -> str:
    """The gateway path of a JSON workload, from the method's http annotation."""
    from nikgate.gateway.routes import http_routes

    method = METHODS[grpc_twin(workload)]
    return next(r.path for r in http_routes() if r.rpc.path == method)


def json_bodies(workload: str, items: Items, batch: int, count: int) -> list[bytes]:
    """The requests of the workload's gRPC twin, as the proto3 JSON bodies a JSON client
    sends (proto field names, columns as arrays)."""
    import json

    from google.protobuf import json_format

    from nikgate.methods import RPCS

    request = RPCS[METHODS[grpc_twin(workload)]].request
    return [json.dumps(json_format.MessageToDict(request.FromString(raw),
                                                 preserving_proto_field_name=True),
                       separators=(",", ":")).encode()
            for raw in requests(grpc_twin(workload), items, batch, count)]
