"""A private pcscd with vpcd virtual readers on free ports, for tests and demos.

pcsc-lite 1.9 fixes its socket and pid file at /run/pcscd/, so two pcscd cannot run side by
side, and Debian's vpcd config fixes the ports at 35963/35964. Instead of touching the
system's daemon, this runs pcscd in its own mount namespace (`unshare --mount`) where a
private directory is bind-mounted over /run/pcscd, with a private reader.conf.d (`pcscd -c`)
whose vpcd entry listens on two free ports. Clients reach it by setting
PCSCLITE_CSOCK_NAME=<that directory>/pcscd.comm before their first PC/SC call (libpcsclite
reads it once per process). Needs root, or unprivileged user namespaces and an existing
/run/pcscd; `PcscdUnavailable` says which is missing.

    with PrivatePcscd(tmp_dir) as pcsc:           # pcsc.readers: the two slot names
        os.environ.update(pcsc.client_env())
        VirtualCard(emulator, pcsc.ports[0]).start()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

VPCD_DRIVERS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
                "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so",
                "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so")
FRIENDLY_NAME = "Virtual PCD"
SLOTS = 2                       # Debian's vpcd opens two slots: port and port + 1
SYSTEM_RUN_DIR = Path("/run/pcscd")
READY_LINE = "daemon ready"          # pcscd --info logs "pcsc-lite 1.9.9 daemon ready."


class PcscdUnavailable(RuntimeError):
    """pcscd did not start, or the namespace it runs in cannot be made here."""


class PcscdNotInstalled(PcscdUnavailable):
    """pcscd, the vpcd driver or unshare is not installed."""


def find_vpcd_driver() -> str | None:
    return next((p for p in VPCD_DRIVERS if os.path.exists(p)), None)


def _free_port_pair() -> int:
    """A port p with p and p + 1 both free on all interfaces (vpcd binds 0.0.0.0)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("0.0.0.0", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
        return port
    raise PcscdUnavailable("no two consecutive free TCP ports found")


class PrivatePcscd:
    """pcscd with vpcd on free ports, in its own mount namespace, under `workdir`."""

    def __init__(self, workdir: str | os.PathLike[str], *, timeout: float = 15.0) -> None:
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.run_dir = self.workdir / "run"
        self.conf_dir = self.workdir / "reader.conf.d"
        self.log_path = self.workdir / "pcscd.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self.port + i for i in range(SLOTS))

    @property
    def readers(self) -> tuple[str, ...]:
        return tuple(f"{FRIENDLY_NAME} 00 {i:02d}" for i in range(SLOTS))

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    def client_env(self) -> dict[str, str]:
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def _command(self) -> list[str]:
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists(
            "/usr/sbin/pcscd") else None)
        unshare = shutil.which("unshare")
        if pcscd is None:
            raise PcscdNotInstalled("pcscd is not installed (apt-get install pcscd)")
        if find_vpcd_driver() is None:
            raise PcscdNotInstalled("the vpcd driver is not installed "
                                   "(apt-get install vsmartcard-vpcd)")
        if unshare is None:
            raise PcscdNotInstalled("unshare (util-linux) is not installed")
        ns = ["--mount", "--propagation", "private"]
        if os.geteuid() == 0:
            SYSTEM_RUN_DIR.mkdir(parents=True, exist_ok=True)   # the mount point
        elif SYSTEM_RUN_DIR.is_dir():
            ns = ["--user", "--map-root-user", *ns]
        else:
            raise PcscdUnavailable(f"{SYSTEM_RUN_DIR} does not exist and only root may make "
                                   "it; run as root or install pcscd's package")
        script = (f'mount --bind "{self.run_dir}" {SYSTEM_RUN_DIR} && '
                  f'exec "{pcscd}" --foreground --info -c "{self.conf_dir}"')
        # setpriv: the kernel ends this pcscd when its starter dies, even by SIGKILL, so a
        # killed test run leaves no daemon holding its ports
        setpriv = shutil.which("setpriv")
        guard = [setpriv, "--pdeathsig", "TERM"] if setpriv else []
        return [*guard, unshare, *ns, "sh", "-c", script]

    def start(self) -> PrivatePcscd:
        command = self._command()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port_pair()
        driver = find_vpcd_driver()
        (self.conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{FRIENDLY_NAME}"\nDEVICENAME /dev/null:0x{self.port:04X}\n'
            f"LIBPATH {driver}\nCHANNELID 0x{self.port:04X}\n")
        log = open(self.log_path, "wb")
        try:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + self.timeout
        # Ready when the socket exists and the log says so (connecting to a vpcd port to
        # probe it would insert a card).
        while not (self.socket_path.exists() and READY_LINE in self._log_text()):
            if self._proc.poll() is not None:
                raise PcscdUnavailable(f"pcscd exited with {self._proc.returncode}: "
                                       f"{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdUnavailable(f"pcscd did not open its socket and vpcd ports "
                                       f"{self.ports} within {self.timeout:.0f} s: "
                                       f"{self.log_tail()}")
            time.sleep(0.05)
        return self

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self._log_text().splitlines()[-lines:]) or "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
