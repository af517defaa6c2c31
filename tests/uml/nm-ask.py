#!/usr/bin/python3
"""Run a command on a pseudo-terminal and type ANSWER at each password prompt.

usage: nm-ask.py ANSWER TIMEOUT_S CMD [ARGS...]
nmcli --ask prompts for secrets only on a terminal. Output is copied to stdout;
exit status is the command's (124 on timeout).
"""
import os, pty, re, select, signal, sys, time

answer, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
prompt = re.compile(rb"(?i)password[^\n]*:\s*$")
seen, typed, end = b"", 0, time.time() + limit
status = None
while True:
    if time.time() > end:
        os.kill(pid, signal.SIGTERM)
        print("\n[nm-ask] timeout", flush=True)
        os.waitpid(pid, 0)
        sys.exit(124)
    r, _, _ = select.select([fd], [], [], 0.3)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        sys.stdout.write(chunk.decode("utf-8", "replace"))
        sys.stdout.flush()
        seen += chunk
        if prompt.search(seen):
            time.sleep(0.2)
            os.write(fd, answer.encode() + b"\n")
            typed += 1
            print("\n[nm-ask] typed the answer", flush=True)
            seen = b""
    else:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
if status is None:
    _, status = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(status)
print("[nm-ask] exit %d, typed %d time(s)" % (rc, typed), flush=True)
sys.exit(rc if rc >= 0 else 128 - rc)
