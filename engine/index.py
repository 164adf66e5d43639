"""NikIndex: the read side of the index (verify, lookup) over one LMDB generation."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nikgate.errors import (
    CorruptRecordError,
    IndexDamagedError,
    IndexFormatError,
    IndexMissingError,
    InvalidNikError,
)
from nikgate.regions import load_regions

from . import _core
from .claims import ByField, ClaimPlan, explain_bad_claim, plan_claims, resolve_field
from .integrity import VerifyReport, verify_env
from .keyset import KEYS_FILE
from .layout import (
    FORMAT_VERSION,
    MANIFEST_KEY,
    TOKENS_FILE,
    check_record_layout,
    current_generation,
)
from .nik import REASONS, explain
from .results import ItemStatus, LookupBatchResult, Verification, VerifyBatchResult
from .schema import CODE_TABLE, KIND, LOOKUP_FIELDS, Field, Kind

log = logging.getLogger(__name__)
_CODE_NAMES = {f: [None, *names] for f, names in CODE_TABLE.items()}
MAX_BATCH = 100_000  # a guard against accidental unbounded calls; the API caps lower


def _problem_text(problem: tuple[str, Any], nik: object) -> str:
    kind, detail = problem
    if kind == "nik":
        reason, pos = detail
        return explain(reason, pos, str(nik))
    field, value = detail
    return str(explain_bad_claim(Field(field), value))


class NikIndex:
    """A published index opened read-only. Thread-safe; batches release the GIL."""

    def __init__(self, env: _core.Env, manifest: dict[str, Any], generation: Path) -> None:
        self._env = env
        self.manifest = manifest
        self.generation = generation

    @classmethod
    def open(cls, index_dir: str | Path) -> NikIndex:
        generation = current_generation(index_dir)
        try:
            env = _core.Env(str(generation), readonly=True)
        except _core.StoreFormatError:
            raise IndexFormatError(
                f"index at {generation} holds databases of another format; this nikgate "
                f"reads version {FORMAT_VERSION} only. Rebuild it with `nikgate index build`"
            ) from None
        except _core.StoreError as e:
            raise IndexMissingError(f"cannot open index at {generation}: {e}") from None
        try:
            manifest = read_manifest(env, generation)
            attach_key_file(env, generation, manifest)
            attach_dictionary(env, generation, manifest)
        except BaseException:
            env.close()
            raise
        return cls(env, manifest, generation)

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> NikIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def record_count(self) -> int:
        return int(self._env.stat()["entries"])

    def stat(self) -> dict[str, int]:
        return dict(self._env.stat())

    def check_integrity(self) -> VerifyReport:
        """Walk and check the whole index now (`nikgate index verify`, engine/integrity.py)."""
        return verify_env(self._env, self.generation.name)

    def quick_check(self) -> VerifyReport:
        """A bounded sample of the same checks (`nikgate doctor`, engine/integrity.py)."""
        from .integrity import quick_verify_env
        return quick_verify_env(self._env, self.generation.name)

    def integrity_steps(self, chunk: int):
        """The same check as bounded steps, for a paced background scrub."""
        from .integrity import verify_steps
        return verify_steps(self._env, self.generation.name, chunk=chunk)

    # -- verification ---------------------------------------------------------------------

    def _verify(self, niks, claims, thresholds):
        if len(niks) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} items per batch")
        plan = plan_claims(claims.keys(), thresholds)
        columns = [list(col) for col in claims.values()]
        niks = niks if isinstance(niks, list) else list(niks)
        raw = _core.verify_batch(self._env, niks, plan.core_plan(), columns, plan.code_maps())
        return niks, plan, raw

    def verify_batch(
        self,
        niks: Sequence[str],
        claims: ByField[Sequence[str | None]],
        thresholds: ByField[int] | int | None = None,
    ) -> VerifyBatchResult:
        """Verify claimed fields for many NIKs; each item gets its own status."""
        niks, plan, (status, life, card, outcomes, scores, problems) = self._verify(
            niks, claims, thresholds)
        messages = {i: _problem_text(p, niks[i]) for i, p in problems.items()}
        return VerifyBatchResult(niks, plan.fields, plan.thresholds, bytes(status),
                                 bytes(life), bytes(card), bytes(outcomes), bytes(scores),
                                 messages)

    def verify(
        self,
        nik: str,
        claims: ByField[str | None],
        thresholds: ByField[int] | int | None = None,
    ) -> Verification:
        """Verify one NIK. A malformed NIK or claim raises; an unknown NIK is a result."""
        plan, status, life, card, outcomes, scores = self.verify_codes(nik, claims, thresholds)
        return VerifyBatchResult([nik], plan.fields, plan.thresholds, bytes((status,)),
                                 bytes((life,)), bytes((card,)), outcomes, scores, {})[0]

    def verify_codes(
        self,
        nik: str,
        claims: ByField[str | None],
        thresholds: ByField[int] | int | None = None,
    ) -> tuple[ClaimPlan, int, int, int, bytes, bytes]:
        """verify() as the core's codes: (plan, item status, life code, card code, one
        outcome and one score byte per planned field). For a caller that encodes the codes
        itself (the web service's Verify): no per-field result objects are made."""
        niks, plan, raw = self._verify([nik], {k: [v] for k, v in claims.items()}, thresholds)
        status, life, card, outcomes, scores, problems = raw
        if problems:
            kind, detail = problems[0]
            if kind == "nik":
                reason, pos = detail
                raise InvalidNikError(explain(reason, pos, str(nik)), reason=REASONS[reason])
            field, value = detail
            raise explain_bad_claim(Field(field), value)
        if status[0] == ItemStatus.CORRUPT:
            raise CorruptRecordError(_corrupt_message(self.generation))
        return plan, status[0], life[0], card[0], bytes(outcomes), bytes(scores)

    # -- lookup ---------------------------------------------------------------------------

    def lookup_batch(self, niks: Sequence[str], fields: Iterable[str | Field]) -> LookupBatchResult:
        """The requested fields (only those) of many NIKs."""
        if len(niks) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} items per batch")
        wanted = tuple(resolve_field(f, LOOKUP_FIELDS, "looked up") for f in fields)
        niks = niks if isinstance(niks, list) else list(niks)
        plan = [(int(f), int(KIND[f])) for f in wanted]
        names = [_CODE_NAMES.get(f) for f in wanted]
        status, columns, problems, regions = _core.lookup_batch(self._env, niks, plan, names)
        for k, f in enumerate(wanted):
            if KIND[f] is Kind.REGION_NAME:
                columns[k] = [_region_name(f, r) for r in regions]
        messages = {i: _problem_text(p, niks[i]) for i, p in problems.items()}
        return LookupBatchResult(niks, wanted, bytes(status), columns, messages)

    def lookup(self, nik: str, fields: Iterable[str | Field]) -> dict[str, str | None] | None:
        """The requested fields of one NIK, or None when it is not in the index."""
        result = self.lookup_batch([nik], fields)
        status = result.status[0]
        if status == ItemStatus.INVALID_NIK:
            reason = _core.py_nik_parse(str(nik))[0]
            raise InvalidNikError(result.problems[0], reason=REASONS[reason])
        if status == ItemStatus.CORRUPT:
            raise CorruptRecordError(_corrupt_message(self.generation))
        return result.item(0)

    def raw(self, nik: int) -> bytes | None:
        """The stored bytes of a record, unchecked (tools and tests)."""
        return self._env.get_raw(nik)

    def packed(self, nik: int) -> bytes | None:
        """A record as the packed row the encoders made of it (engine/record.py), decoded
        from its stored form; None when absent. CorruptRecordError when it does not check."""
        packed = self._env.get_packed(nik)
        if packed is False:
            raise CorruptRecordError(_corrupt_message(self.generation))
        return packed

    @property
    def dictionary(self) -> _core.TokenDictionary:
        """The generation's token dictionary (engine/tokens.pxi)."""
        found = self._env.token_dictionary
        assert found is not None  # attached by open()
        return found

    def sample_niks(self, count: int, start: int = 0) -> list[str]:
        """`count` stored NIKs in key order from `start` (demo and benchmarks)."""
        return [f"{n:016d}" for n in self._env.iter_keys(start, count)]


def _corrupt_message(generation: Path) -> str:
    return (f"a stored record failed its checksum or cannot be reached in {generation}; "
            "nothing was returned. The index is damaged: run `nikgate index verify`, then "
            "rebuild it with `nikgate index build` or restore a copy")


def attach_key_file(env: _core.Env, generation: Path, manifest: dict[str, Any]) -> None:
    """Let lookup misses consult the generation's key file (engine/keyset.py). An index
    built before key files existed opens without one: its misses answer NOT_FOUND as
    they always did, and `nikgate index verify` says to rebuild it."""
    path = generation / KEYS_FILE
    if "keys_file" not in manifest:
        log.warning("index at %s has no key file: a damaged B-tree would answer NOT_FOUND "
                    "for stored NIKs; rebuild it with `nikgate index build`", generation)
        return
    try:
        env.attach_keys(_core.KeyFile(str(path)))
    except FileNotFoundError:
        raise IndexFormatError(f"{path} is missing but the manifest names it; restore it or "
                               "rebuild the index with `nikgate index build`") from None
    except _core.StoreError as e:
        raise IndexFormatError(str(e)) from None


def attach_dictionary(env: _core.Env, generation: Path, manifest: dict[str, Any]) -> None:
    """Decode texts with the generation's token dictionary, once its checksum matches the
    manifest's: record checksums cover token ids, not the words they stand for, so a
    damaged dictionary must never be read."""
    want = manifest.get("dictionary")
    path = generation / TOKENS_FILE
    if want is None:
        raise IndexFormatError(f"index at {generation} has no token dictionary; rebuild it "
                               "with this version's `nikgate index build`")
    try:
        found = _core.TokenDictionary.open(str(path))
    except FileNotFoundError:
        raise IndexFormatError(f"{path} is missing but the manifest names it; restore it or "
                               "rebuild the index with `nikgate index build`") from None
    except _core.StoreError as e:
        raise IndexDamagedError(f"{path}: {e}; restore a copy or rebuild the index with "
                                "`nikgate index build`") from None
    if found.digest() != want.get("xxh3_128") or len(found) != want.get("tokens"):
        raise IndexDamagedError(
            f"the token dictionary of the index at {generation} does not match its "
            f"manifest's checksum (damaged): its texts cannot be read. Restore a copy or "
            "rebuild the index with `nikgate index build`")
    env.attach_dictionary(found)


def write_dictionary(generation: Path, dictionary: _core.TokenDictionary) -> dict[str, Any]:
    """Write the generation's token dictionary file (fsynced: the manifest that names it
    vouches for it); returns the manifest's `dictionary` entry."""
    with open(generation / TOKENS_FILE, "wb") as f:
        f.write(dictionary.blob())
        f.flush()
        os.fsync(f.fileno())
    return {"name": TOKENS_FILE, "tokens": len(dictionary), "bytes": dictionary.nbytes,
            "xxh3_128": dictionary.digest()}


def _region_name(field: Field, codes: tuple[int, int, int, int] | None) -> str | None:
    if codes is None:
        return None
    prop, kab, kec, kel = codes
    regions = load_regions()
    if field is Field.PROP_NAME:
        return regions.provinces.get(prop)
    if field is Field.KAB_NAME:
        return regions.regencies.get(prop * 100 + kab)
    if field is Field.KEC_NAME:
        return regions.districts.get(prop * 10000 + kab * 100 + kec)
    return regions.village_name((prop * 10000 + kab * 100 + kec) * 10000 + kel)


def read_manifest(env: _core.Env, where: Path) -> dict[str, Any]:
    raw = env.get_meta(MANIFEST_KEY)
    if raw is None:
        raise IndexFormatError(
            f"{where} has no manifest: it is not a nikgate index, or its build was interrupted;"
            " rebuild it with `nikgate index build`")
    try:
        manifest = json.loads(raw)
    except ValueError:   # bad UTF-8 or JSON: the page holding it is damaged
        raise IndexDamagedError(
            f"the manifest of the index at {where} cannot be read: the file is damaged; "
            "rebuild it with `nikgate index build` or restore a copy") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"index at {where} is format version {version}; this nikgate reads version "
            f"{FORMAT_VERSION} only. Rebuild the index with this version's `nikgate index build`")
    check_record_layout(manifest, where)
    return manifest
