"""The exit codes of `nikgate`: one table for every command, and the one line it prints
for an error.

A script tells "fix the input" from "not allowed" from "retry later" by the code alone, so
the codes are stable and the same in every command. EXIT_CODES is the table `nikgate
--help`, every subcommand's --help and README.md ("Exit codes") show; a test checks the
README against it. Commands return the names below, never bare numbers.
"""

from __future__ import annotations

import errno
import signal

from nikgate import errors

DONE = 0
FAILED = 1            # the command could not do its job; also an internal error (a bug)
USAGE = 2             # a usage mistake or bad input: the command, its options, its files
FINDING = 3           # answered: no match, not found, invalid, damaged
REFUSED = 4           # refused: by the server (certificate, grant) or by the card
LIMIT = 5             # a quota, size or rate limit
UNAVAILABLE = 6       # cannot reach the server, it cannot serve now, or the deadline passed
READ_AGAIN = 7        # card-reader: the card was removed or the read disturbed
INTERRUPTED = 130     # Ctrl-C (128 + SIGINT)
OUTPUT_CLOSED = 128 + signal.SIGPIPE   # 141: the reader of stdout went away (`| head`)

EXIT_CODES: tuple[tuple[int, str, str], ...] = (   # (code, in short, in full)
    (DONE, "done", "the command did what was asked"),
    (FAILED, "failed", "some records rejected or calls failed; also an internal error"),
    (USAGE, "bad input", "a usage mistake: an unknown option, a bad value, a missing or unreadable file"),
    (FINDING, "no match", "answered no: not found, invalid, damaged, does not verify"),
    (REFUSED, "refused", "by the server (certificate, grant) or by the card"),
    (LIMIT, "limit", "a quota, size or rate limit: retry later"),
    (UNAVAILABLE, "unavailable", "cannot reach the server, it cannot serve now, or the "
                                 "deadline passed: retry"),
    (READ_AGAIN, "read again", "card-reader: lay the card on the reader again and repeat"),
    (INTERRUPTED, "interrupted", "Ctrl-C"),
    (OUTPUT_CLOSED, "output closed", "the reader of the output went away (piped into head)"),
)

# Exit status and hint per family of errors raised here, first match wins. A path the
# user named that holds no index or audit log is their mistake to fix, like a missing file.
EXIT_STATUS: tuple[tuple[type[errors.NikgateError], int, str], ...] = (
    (errors.InvalidInputError, USAGE, ""),
    (errors.IndexMissingError, USAGE, ""),
    (errors.AuditLogMissing, USAGE, ""),
    (errors.AuditKeyError, USAGE, ""),
    (errors.WarehouseFileError, USAGE, ""),
    (errors.PkiMissing, USAGE, ""),
    # a damaged index is a finding, whether found by opening it or by a check
    (errors.IndexDamagedError, FINDING,
     "`nikgate index verify` says what; rebuild it or pull a good generation"),
    (errors.CorruptRecordError, FINDING,
     "`nikgate index verify` says what; rebuild it or pull a good generation"),
    (errors.Unauthenticated, REFUSED,
     "check the connection's certificate and key: issued by the nikgate CA, not revoked, "
     "naming an institution nikgate knows"),
    (errors.PermissionDenied, REFUSED,
     "the grant does not allow this; an operator changes grants with `nikgate grant`"),
    (errors.ResourceExhausted, LIMIT, "retry later"),
    (errors.ServiceUnavailable, UNAVAILABLE, "retry later"),
    (errors.DeadlineExceeded, UNAVAILABLE, "retry, with a longer deadline if the call is large"),
    (errors.NikgateError, FAILED, ""),
)

# An OSError on a path the user named is a usage mistake (fix the path or its
# permissions); others (a full disk, an I/O error) are a failure.
_USAGE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES,
                           errno.EPERM, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP,
                           errno.EROFS})


def help_table() -> str:
    """EXIT_CODES as `nikgate --help` shows it (README.md shows the same rows)."""
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {short}: {full}"
                                       for code, short, full in EXIT_CODES)


def help_pointer() -> str:
    """The short form every subcommand's --help ends with."""
    return ("exit codes: " + ", ".join(f"{code} {short}" for code, short, _ in EXIT_CODES)
            + " (nikgate --help explains them)")


# These are the user's to fix when raised here; answered by a server (the server's own
# missing index) they go by the status code, e.g. UNAVAILABLE to its caller.
_LOCAL_USAGE = (errors.IndexMissingError, errors.AuditLogMissing, errors.AuditKeyError,
                errors.WarehouseFileError)
_BY_GRPC_CODE = {"INVALID_ARGUMENT": USAGE, "UNAUTHENTICATED": REFUSED,
                 "PERMISSION_DENIED": REFUSED, "RESOURCE_EXHAUSTED": LIMIT,
                 "UNAVAILABLE": UNAVAILABLE, "DEADLINE_EXCEEDED": UNAVAILABLE}


def exit_status(error: errors.NikgateError) -> int:
    """The exit status `nikgate` ends with for `error`: by its family (EXIT_STATUS), but by
    the status code for a user's-mistake class that a server answered with."""
    if error.grpc_code and isinstance(error, _LOCAL_USAGE):
        return _BY_GRPC_CODE.get(error.grpc_code, FAILED)
    return next(status for cls, status, _ in EXIT_STATUS if isinstance(error, cls))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report(error: errors.NikgateError) -> str:
    """The one line `nikgate` prints for `error`: `nikgate: error: <message> (<what to
    do>; status <code>, transaction <id>)`, the parenthesis only with what is known.
    Never a traceback."""
    hint = next(h for cls, _, h in EXIT_STATUS if isinstance(error, cls))
    said = str(error).lower()
    if hint and (hint in said or (hint.startswith("retry") and "retry" in said)
                 or (error.grpc_code and not error.transaction_id)):
        hint = ""   # said already: the clients' own messages for the transport say it
    retry = error.retry_after
    if retry is not None and isinstance(error, (errors.ResourceExhausted,
                                                errors.ServiceUnavailable)):
        hint = f"retry after {retry:.3g} s" if retry > 0 else "retry now"
    notes = [hint] if hint else []
    where = [f"status {error.grpc_code}"] if error.grpc_code else []
    if error.transaction_id:
        where.append(f"transaction {error.transaction_id}")
    if where:
        notes.append(", ".join(where))
    line = f"nikgate: error: {_one_line(str(error)) or type(error).__name__}"
    return f"{line} ({'; '.join(notes)})" if notes else line


def os_error_status(error: OSError) -> int:
    """USAGE for a path that is missing, not a directory, a directory, or not allowed;
    FAILED for anything else."""
    return USAGE if error.errno in _USAGE_ERRNOS else FAILED


def report_os_error(error: OSError) -> str:
    """One line naming the path(s) and the system's reason, e.g. `nikgate: error:
    conn.json: No such file or directory`."""
    reason = error.strerror or _one_line(str(error)) or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"nikgate: error: {' -> '.join(paths)}: {reason}" if paths else (
        f"nikgate: error: {reason}")


def report_internal(error: BaseException) -> str:
    """The last resort: a bug, not a mistake of the user's."""
    return (f"nikgate: internal error: {type(error).__name__}: {_one_line(str(error))} "
            "(run with -v for the traceback)")
