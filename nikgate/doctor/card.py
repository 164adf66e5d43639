"""The card reader stack of a teller's PC, when doctor is told which readers it uses
(--card-reader SPEC, as `nikgate card-reader` takes them): pcscd answers and the reader is
there, or the emulated card/SAM file loads."""

from __future__ import annotations

from nikgate.errors import NikgateError

from .result import Check, fail, ok


def check(spec: str) -> Check:
    from nikgate.card.reader import load_emulator, pcsc_readers

    name = f"card-reader {spec}"
    scheme, _, rest = spec.partition(":")
    if scheme == "sim" and rest:
        try:
            emulator = load_emulator(rest)
        except (NikgateError, OSError, ValueError) as e:
            return fail(name, f"the emulated reader's file does not load: {e}",
                        "check the path")
        return ok(name, f"emulated {type(emulator).__name__} loads")
    if scheme != "pcsc" or not rest:
        return fail(name, "a reader is sim:PATH or pcsc:NAME", "fix --card-reader")
    try:
        names = pcsc_readers()
    except NikgateError as e:
        return fail(name, str(e), "start pcscd (`pcscd` or `systemctl start pcscd`) and "
                    "install pyscard (docs/card-reader.md)")
    found = [n for n in names if n == rest] or [n for n in names if rest in n]
    if len(found) != 1:
        which = "several readers match" if found else "no reader matches"
        return fail(name, f"pcscd answers but {which} {rest!r} (readers: "
                    f"{', '.join(names) or 'none'})",
                    "plug the reader in, or give its name as pcscd lists it")
    return ok(name, f"pcscd answers; reader {found[0]!r} present")
