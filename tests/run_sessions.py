"""``make test``: two pytest sessions side by side on the machine's two cores — the integration suite
(tests/integration, the six processes and the browser) with the security tests in one, every other
test (unit, fault, production, scale, deployment) in the other, which start suites of their own. Their output is
streamed line by line, each line marked with its session; the exit status is the worse of the two.

Most of either session is waiting (services starting, outages held, pages loading), so together they
take about as long as the longer one. Arguments are passed to both sessions. At the end each session's short
summary (which tests failed or erred, and why in a line) is printed once more, together: a failure's long
report (Schemathesis's, say) must not push out of view, in the tail of a CI log, which tests failed."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

# Balanced by measure (CI, 2 cores): the fault, production and scale suites are the longest part of the
# second session, so the security tests run in the first.
SESSIONS = {"integration": ["tests/integration", "tests/security"],
            "others": ["tests", "--ignore=tests/integration", "--ignore=tests/security"]}


def main() -> int:
    processes = {}
    for name, paths in SESSIONS.items():
        env = os.environ | {"LVRONG_TEST_SESSION": name, "PYTHONUNBUFFERED": "1"}
        processes[name] = subprocess.Popen([sys.executable, "-m", "pytest", *paths, *sys.argv[1:]], env=env,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lock = threading.Lock()
    summaries: dict[str, list[str]] = {name: [] for name in processes}

    def relay(name: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        in_summary = False
        for line in process.stdout:
            with lock:
                sys.stdout.write(f"[{name}] {line}")
                sys.stdout.flush()
            # pytest's -ra section: from its "short test summary info" rule to the closing rule of the counts
            if "short test summary info" in line:
                in_summary = True
            elif in_summary and line.startswith(("FAILED", "ERROR")):
                summaries[name].append(line.rstrip("\n"))
            elif in_summary and line.startswith("=") and (" passed" in line or " failed" in line or " error" in line):
                summaries[name].append(line.strip("= \n"))
                in_summary = False

    threads = [threading.Thread(target=relay, args=item) for item in processes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = {name: process.wait() for name, process in processes.items()}
    for name, lines in summaries.items():
        for line in lines:
            print(f"[{name}] {line}", flush=True)
    print("sessions: " + ", ".join(f"{name} exit {code}" for name, code in codes.items()), flush=True)
    return max(codes.values())


if __name__ == "__main__":
    sys.exit(main())
