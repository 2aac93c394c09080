"""Start, measure and stop the app's processes the way `make run` does.

The commands are read from the repository at run time, so the benchmark follows whatever they
become: the web server is scripts/serve.sh itself (gunicorn, as README's `make run` serves), and
the workers are every `manage.py qcluster` line of scripts/run.sh plus one per cluster named in
settings.Q_CLUSTER["ALT_CLUSTERS"] (started with Q_CLUSTER_NAME=<name>, as django-q2 expects).
"""

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def web_command():
    return ["sh", str(ROOT / "scripts" / "serve.sh"), PY]


def worker_clusters(q_cluster):
    """Return the cluster names to start: None for the default one, then every other named cluster."""
    names = []
    for line in (ROOT / "scripts" / "run.sh").read_text().splitlines():
        code = line.split("#", 1)[0]
        if "manage.py qcluster" not in code:
            continue
        match = re.search(r"Q_CLUSTER_NAME=[\"']?(\w+)", code)
        names.append(match.group(1) if match else None)
    names += list((q_cluster.get("ALT_CLUSTERS") or {}).keys())
    ordered = []
    for name in names or [None]:
        if name == q_cluster.get("name"):
            name = None
        if name not in ordered:
            ordered.append(name)
    return ordered


class Group:
    """One command in its own session (process group), so its forked children can be measured and stopped."""

    def __init__(self, label, argv, *, env, log, cwd=ROOT):
        self.label = label
        self._log = open(log, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        """Every live process of this group (its session's process group)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == self.pid:
                found.append(int(entry))
        return found

    def rss_mb(self):
        """Sum of VmRSS over the group's processes, in MB (shared pages counted in each, as top does)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self):
        """User + system CPU time used so far by the group's live processes."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL the whole group at once, as a host that loses power: no handler runs, nothing cleans up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        # qcluster can hang while stopping; nothing of ours may outlive the benchmark.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


def web_start(*, env, port, log, cwd=ROOT, label="web"):
    group = Group(label, web_command(), env={**env, "PORT": str(port)}, log=log, cwd=cwd)
    try:
        return group, _wait_ready(group, f"http://127.0.0.1:{port}", log)
    except BaseException:
        group.stop()  # a server that never came up must not outlive the benchmark either
        raise


def _wait_ready(group, url, log):
    ends = time.monotonic() + 60
    while time.monotonic() < ends:
        if not group.alive():
            raise RuntimeError(f"gunicorn exited at start; see {log}")
        try:
            # The master listens before its workers have imported Django: the first answer waits.
            requests.get(f"{url}/healthz", timeout=30)
            # Both workers should be up before anything is timed.
            time.sleep(1.0)
            return url
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log}")


def workers_start(*, env, q_cluster, log, cwd=ROOT, label=""):
    """Start one `qcluster` per cluster scripts/run.sh names; `cwd` other than ROOT is a host of its own."""
    groups = []
    for name in worker_clusters(q_cluster):
        child_env = dict(env)
        if name:
            child_env["Q_CLUSTER_NAME"] = name
        groups.append(
            Group(
                f"{label}qcluster {name or q_cluster.get('name')}",
                [PY, str(ROOT / "manage.py"), "qcluster"],
                env=child_env,
                log=log,
                cwd=cwd,
            )
        )
    return groups


def manage(args, *, env, check=True, timeout=300):
    """Run `manage.py <args>` with our interpreter; return the CompletedProcess."""
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def audit(env):
    """Run `manage.py audit_ledger`; return (passed, last line of its output)."""
    done = manage(["audit_ledger"], env=env, check=False)
    text = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, (text[-1] if text else "")
