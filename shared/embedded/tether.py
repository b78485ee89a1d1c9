"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

`elizabus up` runs nats-server, Postgres, the orchestrator and a model worker as children. When
`up` is stopped in order it stops them itself; when it is killed (SIGKILL, OOM killer) it runs no
code at all, and without help its children live on as orphans, holding ports and data dirs.

How: on Linux the child asks the kernel, between fork and exec, for a signal when its parent dies
(`prctl(PR_SET_PDEATHSIG)`). This was chosen over a pipe the child watches (EOF when the parent's
end closes) because it needs no cooperation from the child: nats-server and postgres are not our
code and would need a wrapper process to watch a pipe; the kernel delivers the signal whatever the
parent died of. Its three catches, and how they are handled:

- the parent may already be dead before the child called prctl: the child then checks that its
  parent is still the process that spawned it, and exits before exec if not;
- the signal fires when the *thread* that spawned the child exits, not the process: spawn from a
  thread that lives as long as the process (the event loop's), or block that thread until the
  child has exited (a `subprocess.run` in `asyncio.to_thread` does);
- the setting is cleared by a change of user id and by exec of a set-uid binary: it is set in
  `preexec_fn`, which Python runs after its own user switch (`Popen(user=...)`), and our
  binaries are not set-uid.

`hold_fds` lets a child inherit open files, typically the lock of a data dir: an flock stays
held while any process keeps the file open, so a lock the children inherit is released only when
the last of them has exited, and a new `elizabus up` cannot start beside the leftovers of a killed
one. Other systems than Linux get no parent-death signal (the children outlive a killed parent).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_EXIT_PARENT_GONE = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded once in the parent (a forked child should not load libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_PRCTL = _load_prctl()


def parent_death_supported() -> bool:
    """Whether children spawned here get a signal when we die (Linux with a loadable libc)."""
    return _PRCTL is not None


def die_with_parent(death_signal: signal.Signals) -> Callable[[], None] | None:
    """A `preexec_fn` making the child receive `death_signal` when the calling process dies.

    None where the system has no parent-death signal. Call it in the process (and thread) that
    spawns the child: the child compares its parent with this process's pid.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()
    sig = int(death_signal)

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os._exit(_EXIT_PARENT_GONE)

    return preexec


def tethered(death_signal: signal.Signals, hold_fds: Sequence[int] = ()) -> dict[str, Any]:
    """Keyword arguments for `subprocess.Popen` / `asyncio.create_subprocess_exec`: a child in a
    session of its own (a Ctrl-C in the terminal reaches only the parent, which stops it in
    order) that receives `death_signal` when the parent dies, and inherits `hold_fds`."""
    kwargs: dict[str, Any] = {"start_new_session": True}
    preexec = die_with_parent(death_signal)
    if preexec is not None:
        kwargs["preexec_fn"] = preexec
    if hold_fds:
        kwargs["pass_fds"] = tuple(hold_fds)
    return kwargs
